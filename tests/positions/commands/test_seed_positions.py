"""`manage.py seed_positions`: a deterministic synthetic book through the positions services."""
from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from governance.positions.management.commands import seed_positions
from governance.positions.models import MarginEvent, MarketData, Position
from governance.positions.terms import terms_current
from tests.parameters.commands.conftest import run

pytestmark = pytest.mark.django_db

COMPUTED = ("side", "quantity", "entry_price", "isolated_margin", "notional", "tier", "initial_margin",
            "maintenance_margin", "margin_balance", "margin_ratio", "liquidation_price", "status")


def book() -> dict:
    return {(p["account__code"], p["symbol"]): p for p in Position.objects.values("account__code", "symbol",
                                                                                  *COMPUTED)}


def test_seeds_a_realistic_book_and_says_what_it_holds(active_rules):
    result = run("seed_positions", "--count", "400", "--seed", "2")
    assert (result.code, result.lines) == (0, [
        "seed_positions: 400 positions in 134 accounts over 14 contracts "
        "(healthy 386, margin_call 10, liquidatable 4)"])
    positions = list(Position.objects.select_related("account"))
    assert len(positions) == 400
    assert len({p.account_id for p in positions}) == 134
    assert {p.side for p in positions} == {"long", "short"}
    assert all(p.account.code.startswith("S2-") for p in positions)
    # every contract gets a mark and a volatility, and every position stays within its tiers
    assert MarketData.objects.count() == 14
    terms = terms_current()
    assert all(p.notional <= terms[p.symbol].schedule[-1].cap for p in positions)
    assert {p.status for p in positions} == {"healthy", "margin_call", "liquidatable"}
    # many small positions, a few large ones over several tiers
    small = sum(1 for p in positions if p.tier == 1)
    assert small > 300 and max(p.tier for p in positions) >= 4
    # leverage from 1x to near the tier's maximum
    leverage = sorted(p.notional / p.isolated_margin for p in positions if p.isolated_margin)
    assert leverage[0] < 2 and leverage[-1] > 60


def test_the_same_seed_gives_the_same_book_and_another_seed_another(active_rules):
    assert run("seed_positions", "--count", "120", "--seed", "3").code == 0
    first = book()
    again = run("seed_positions", "--count", "120", "--seed", "3")
    assert again.code == 0 and book() == first  # the same rows, updated in place
    assert run("seed_positions", "--count", "120", "--seed", "4").code == 0
    other = {k: v for k, v in book().items() if k[0].startswith("S4-")}
    assert len(other) == 120 and sorted(v["quantity"] for v in other.values()) != sorted(
        v["quantity"] for v in first.values())


def test_chosen_contracts_and_accounts(active_rules):
    result = run("seed_positions", "--count", "150", "--symbols", "BTCUSDT,ETHUSDT", "--accounts", "100",
                 "--seed", "2", "--batch", "40")
    assert result.code == 0, result.err
    assert result.out.startswith("seed_positions: 150 positions in 100 accounts over 2 contracts (")
    assert set(Position.objects.values_list("symbol", flat=True)) == {"BTCUSDT", "ETHUSDT"}
    assert Position.objects.values("account").distinct().count() == 100
    assert set(MarketData.objects.values_list("symbol", "mark_price")) == {("BTCUSDT", D("60007.1")),
                                                                           ("ETHUSDT", D("2997.51"))}


BAD_ARGUMENTS = [
    (["--count", "0"], "--count must be a number of positions from 1 to 20,000,000, got 0"),
    (["--count", "-5"], "--count must be a number of positions from 1 to 20,000,000, got -5"),
    (["--count", "1000000000000"], "--count must be a number of positions from 1 to 20,000,000, got 1000000000000"),
    (["--count", "1", "--seed", "1" + "0" * 70], f"--seed must be from 0 to 999999999999, got 1{'0' * 70}"),
    (["--count", "1", "--seed", "-1"], "--seed must be from 0 to 999999999999, got -1"),
    (["--count", "10", "--symbols", "BTCUSDT,NOPEUSDT"], "unknown contract(s): NOPEUSDT"),
    (["--count", "10", "--symbols", " , "], "--symbols names no contract"),
    (["--count", "10", "--symbols", "BTCUSDT", "--accounts", "5"],
     "--accounts must be between 10 and 10 for 10 position(s) over 1 contract(s) (one position per account and "
     "contract), got 5"),
    (["--count", "10", "--accounts", "11"],
     "--accounts must be between 1 and 10 for 10 position(s) over 14 contract(s) (one position per account and "
     "contract), got 11"),
    (["--count", "10", "--batch", "0"], "--batch must be positive, got 0"),
]


def test_bad_arguments_exit_2_with_one_line_and_write_nothing(active_rules):
    for args, message in BAD_ARGUMENTS:
        result = run("seed_positions", *args)
        assert (result.code, result.err, result.out) == (2, message, ""), args
        assert Position.objects.count() == 0 and MarketData.objects.count() == 0


def test_no_active_parameters_exits_2(db):
    result = run("seed_positions", "--count", "10")
    assert (result.code, result.err) == (2, "no contract has active parameters: activate the rules first "
                                            "(manage.py demo_setup)")
    result = run("seed_positions", "--count", "10", "--symbols", "BTCUSDT")
    assert (result.code, result.err) == (2, "unknown contract(s): BTCUSDT")
    assert Position.objects.count() == 0


def test_fast_needs_postgresql(active_rules, monkeypatch):
    monkeypatch.setattr(seed_positions, "connection", SimpleNamespace(vendor="sqlite"))
    result = run("seed_positions", "--count", "10", "--fast")
    assert (result.code, result.err) == (2, "--fast needs PostgreSQL; this database is sqlite")


@pytest.mark.postgres
def test_the_fast_path_writes_the_same_book(active_rules):
    assert run("seed_positions", "--count", "300", "--seed", "5").code == 0
    plain = book()
    MarginEvent.objects.all().delete()
    Position.objects.all().delete()
    fast = run("seed_positions", "--count", "300", "--seed", "5", "--fast", "--batch", "70")
    assert fast.code == 0, fast.err
    assert book() == plain
    assert not Position.objects.filter(status="pending").exists()


def test_every_seeded_decimal_is_one_sqlite_stores_exactly(active_rules):
    # the embedded default keeps 15 significant digits: `make run` seeds its demo book there
    terms = terms_current()
    plans = [seed_positions.contract_plan(
        terms=terms[s], price=D(seed_positions.PRICES[s][0]) if s in seed_positions.PRICES
        else seed_positions.DEFAULT_PRICE,
        volatility=seed_positions.PRICES.get(s, (None, seed_positions.DEFAULT_VOLATILITY))[1], seed=1)
        for s in sorted(terms)]
    rows = list(seed_positions.book_generate(seed=1, count=20000, accounts=7000, plans=plans, prefix="S1-"))
    longest = max(len(row[f].replace(".", "").strip("0")) for row in rows
                  for f in ("quantity", "entry_price", "isolated_margin"))
    assert (len(rows), longest <= 15) == (20000, True)
