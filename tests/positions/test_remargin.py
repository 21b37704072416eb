"""The set-based re-margining agrees with the margin engine, position by position.

On PostgreSQL the margin math runs in SQL, so this is the test that keeps the two in
step: thousands of random positions over several contracts, multipliers from volatility
bands and groups, notionals exactly at tier caps, both sides, every status.
"""
import random
import threading
import time
from decimal import Decimal as D

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from governance.margin.numbers import decimal_text
from governance.positions import services
from governance.positions.models import MarketData, Position, Rollout
from governance.positions.remargin import chunk_remargin, position_compute
from governance.positions.terms import terms_current

pytestmark = pytest.mark.django_db
SYMBOLS = {"BTCUSDT": D("60000"), "ETHUSDT": D("3000"), "1000PEPEUSDT": D("0.0125"), "SOLUSDT": D("150")}
COLUMNS = ("notional", "tier", "initial_margin", "maintenance_margin", "margin_balance", "margin_ratio",
           "liquidation_price", "status", "contract_version_id", "exchange_version_id", "volatility_band", "multiplier")


# Marks that divide every cap exactly (powers of 2 and 5), so a quantity can put the notional
# at the mark exactly on a cap; SOLUSDT has no mark: its notional is at the entry price.
MARKS = {"BTCUSDT": D("62500"), "ETHUSDT": D("3125"), "1000PEPEUSDT": D("0.0125"), "SOLUSDT": None}


def book(rng: random.Random, terms, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        symbol = rng.choice(list(SYMBOLS))
        schedule, price, mark = terms[symbol].schedule, SYMBOLS[symbol], MARKS[symbol]
        size = terms[symbol].contract_size
        tier = rng.choice(schedule)
        side = rng.choice(["long", "short"])
        if i % 5 == 0 and mark is not None:
            # the notional at the mark exactly at a cap, from any entry price
            quantity = tier.cap / (mark * size)
            entry = price * D(rng.randint(900, 1100)) / 1000
        elif i % 5 == 0:
            # exactly at a cap at the entry price: quantity k at price cap / k
            k = rng.choice([1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50, 100])
            entry = tier.cap / (k * size)
            quantity = D(k)
        else:
            entry = price * D(rng.randint(900, 1100)) / 1000
            target = tier.floor + (tier.cap - tier.floor) * D(rng.randint(1, 1000)) / 1000
            quantity = max(D(1), (target / entry).quantize(D("0.001")))
            if quantity * entry > schedule[-1].cap:
                quantity = (schedule[-1].cap / entry).quantize(D("0.001"), rounding="ROUND_FLOOR")
        leverage = D(rng.choice([1, 2, 3, 5, 10, 20, 50, 75, 100, 125, 150]))
        margin = (quantity * entry / leverage).quantize(D("0.01"))
        if i % 7 == 3:
            # the margin that puts the liquidation price exactly at a tier's cap: the surplus
            # there is zero, the tie the liquidation tier's search must break as the engine does
            at, q = rng.choice(schedule), quantity * size
            mmr, cum = at.maintenance_margin_rate, at.maintenance_amount
            exact = q * entry - at.cap * (1 - mmr) - cum if side == "long" else at.cap * (1 + mmr) - cum - q * entry
            margin = exact if exact >= 0 else margin
        rows.append({"account": f"acct-{i}", "symbol": symbol, "side": side, "quantity": decimal_text(quantity),
                     "entry_price": decimal_text(entry), "isolated_margin": decimal_text(margin)})
    return rows


@pytest.mark.postgres
def test_sql_and_engine_agree_on_thousands_of_positions(active_rules, django_capture_on_commit_callbacks):
    rng = random.Random(20261125)
    with django_capture_on_commit_callbacks(execute=True):
        services.market_data_upsert(rows=[
            {"symbol": "BTCUSDT", "mark_price": decimal_text(MARKS["BTCUSDT"]), "realized_volatility": "0.9"},  # band 2
            {"symbol": "ETHUSDT", "mark_price": decimal_text(MARKS["ETHUSDT"])},
            {"symbol": "1000PEPEUSDT", "mark_price": decimal_text(MARKS["1000PEPEUSDT"]), "realized_volatility": "1.5"},
        ])
    terms = terms_current(symbols=list(SYMBOLS))
    assert terms["BTCUSDT"].band > 1 and terms["1000PEPEUSDT"].multiplier > 1
    rows = book(rng, terms, 4000)
    with django_capture_on_commit_callbacks(execute=True):
        services.positions_upsert(rows=rows)

    marks = MARKS
    statuses, mismatches, at_cap, liq_at_cap = set(), [], 0, 0
    for position in Position.objects.values():
        expected = position_compute(position, terms[position["symbol"]], marks[position["symbol"]])
        got = {c: position[c] for c in COLUMNS}
        if got != expected:
            mismatches.append((position["id"], {c: (got[c], expected[c]) for c in COLUMNS if got[c] != expected[c]}))
        statuses.add(position["status"])
        schedule = terms[position["symbol"]].schedule
        at_cap += any(position["notional"] == t.cap for t in schedule)
        liq_at_cap += position["liquidation_price"] is not None and any(
            position["liquidation_price"] * position["quantity"] * terms[position["symbol"]].contract_size == t.cap
            for t in schedule)
    assert mismatches == []
    assert statuses == {"healthy", "margin_call", "liquidatable", "beyond_tiers"}
    # the boundaries are really in the book: notionals at the mark on a cap, liquidation prices on
    # one (where the cap over the quantity falls on the tick: the price is rounded to it)
    assert (at_cap > 700, liq_at_cap > 40) == (True, True), (at_cap, liq_at_cap)  # 801 and 52 with this seed


@pytest.mark.postgres
@pytest.mark.parametrize("before", ["on", "off"])
def test_a_chunk_gives_the_rest_of_the_transaction_its_index_scans_back(active_rules, before):
    # the chunk's statement reads its id range by bitmap scans; what follows it in the
    # transaction (the events' MAX(seq), the chunk's own row) must not lose its index scans
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_indexscan', %s, true)", [before])
        chunk_remargin(first_id=1, last_id=10, terms=terms_current(), rollout_id=None, now=timezone.now())
        cursor.execute("SELECT current_setting('enable_indexscan'), current_setting('jit')")
        assert cursor.fetchone() == (before, "off")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_position_changed_while_its_chunk_waits_is_computed_from_its_new_inputs(active_rules):
    services.positions_upsert(rows=[{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": "10",
                                     "entry_price": "60000", "isolated_margin": "30000"}])
    target = Position.objects.get()
    changed, waiting, done = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def change_inputs():  # another writer: holds the row while the chunk reaches it
        try:
            with transaction.atomic():
                Position.objects.filter(pk=target.pk).update(isolated_margin=D("2900"))
                changed.set()
                waiting.wait(timeout=30)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    def chunk():
        try:
            with transaction.atomic():
                chunk_remargin(first_id=target.pk, last_id=target.pk, terms=terms_current(), rollout_id=None,
                               now=timezone.now())
        except Exception as exc:
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    writer = threading.Thread(target=change_inputs)
    writer.start()
    assert changed.wait(timeout=30)
    remargin = threading.Thread(target=chunk)
    remargin.start()
    with connection.cursor() as cursor:
        for _ in range(300):  # until the chunk's statement waits for the writer's row lock
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the chunk never waited for the writer's row")
    assert not done.is_set()
    waiting.set()
    writer.join(timeout=30)
    remargin.join(timeout=30)
    assert errors == []

    target.refresh_from_db()
    expected = position_compute({"side": "long", "quantity": target.quantity, "entry_price": target.entry_price,
                                 "isolated_margin": D("2900")}, terms_current()["BTCUSDT"], None)
    assert {c: getattr(target, c) for c in COLUMNS} == expected
    assert (target.previous_status, target.status) == ("healthy", "liquidatable")


def test_a_notional_beyond_what_the_book_holds_is_beyond_tiers_not_a_failed_chunk(active_rules,
                                                                                  django_capture_on_commit_callbacks):
    # each figure fits its column; the notional they make at a far-off mark (1e21) does not
    with django_capture_on_commit_callbacks(execute=True):
        services.positions_upsert(rows=[{"account": "A1", "symbol": "BTCUSDT", "side": "long",
                                         "quantity": "1000000000000000", "entry_price": "1", "isolated_margin": "1"},
                                        {"account": "A2", "symbol": "BTCUSDT", "side": "short", "quantity": "1",
                                         "entry_price": "1000", "isolated_margin": "500"}])
        services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "1000000"}])
    huge, small = Position.objects.order_by("account__code")
    assert (huge.status, huge.tier, huge.notional, huge.margin_balance) == ("beyond_tiers", None, None, None)
    assert (small.status, small.notional) == ("liquidatable", D("1000000"))  # its chunk went through
    assert Rollout.objects.latest("pk").state == "completed"


@pytest.mark.postgres
def test_a_status_change_is_written_in_place_without_touching_any_index(active_rules):
    # heap-only (HOT) updates: no indexed column changes, so no index entry is written (0009)
    services.positions_upsert(rows=[{"account": f"A{i}", "symbol": "BTCUSDT", "side": "long", "quantity": "1",
                                     "entry_price": "60000", "isolated_margin": "6000"} for i in range(4)])
    assert set(Position.objects.values_list("status", flat=True)) == {"healthy"}
    MarketData.objects.update_or_create(symbol="BTCUSDT", defaults={"mark_price": D("50000"),
                                                                     "updated_at": timezone.now()})
    ids = sorted(Position.objects.values_list("id", flat=True))

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                           "WHERE relname = 'positions_position'")
            return cursor.fetchone()

    before = updates()
    result = chunk_remargin(first_id=ids[0], last_id=ids[-1], terms=terms_current(), rollout_id=None,
                            now=timezone.now())
    after = updates()
    assert (result.positions, result.events) == (4, 4)
    assert set(Position.objects.values_list("status", flat=True)) == {"liquidatable"}
    assert (after[0] - before[0], after[1] - before[1]) == (4, 4)
