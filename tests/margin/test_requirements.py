"""Requirements of one isolated position: hand-worked examples, statuses, isolation, bad input."""
from decimal import Decimal as D

import pytest

from governance.margin import InvalidInput, NotionalBeyondTiers, Position, requirements_compute
from tests.margin.tables import BTCUSDT


def compute(position, threshold=D("0.8")):
    return requirements_compute(position=position, schedule=BTCUSDT, margin_call_threshold=threshold,
                                tick_size=D("0.1"))


def test_long_worked_by_hand():
    # 10 BTC long at 60,000, 30,000 isolated margin, mark = entry (table: margin-math.md).
    # notional 600,000 -> tier 2 (50,000 < n <= 600,000): 100x, MMR 0.005, cum 50
    # IM = 600,000 / 100 = 6,000; MM = 600,000 x 0.005 - 50 = 2,950; balance 30,000
    # ratio = 2,950 / 30,000 = 0.098333... rounded up -> 0.09833334
    # LP = (30,000 + 50 - 600,000) / (10 x (0.005 - 1)) = 57,281.407... -> 57,281.5
    result = compute(Position(side="long", quantity=D(10), entry_price=D(60000), isolated_margin=D(30000)))
    assert result.as_json_dict() == {
        "notional": "600000", "tier": 2, "max_leverage": "100", "initial_margin_rate": "0.01",
        "maintenance_margin_rate": "0.005", "maintenance_amount": "50", "initial_margin": "6000",
        "maintenance_margin": "2950", "unrealized_pnl": "0", "margin_balance": "30000",
        "margin_ratio": "0.09833334", "liquidation_price": "57281.5", "status": "healthy",
    }


def test_short_under_water_worked_by_hand():
    # 2 BTC short at 30,000, mark 31,000, 1,000 isolated margin.
    # notional 62,000 -> tier 2: MM = 62,000 x 0.005 - 50 = 260; PnL = 2 x (30,000 - 31,000) = -2,000
    # balance = 1,000 - 2,000 = -1,000 <= 0 -> liquidatable, ratio undefined
    result = compute(Position(side="short", quantity=D(2), entry_price=D(30000), isolated_margin=D(1000),
                              mark_price=D(31000)))
    assert (result.maintenance_margin, result.unrealized_pnl, result.margin_balance) == (D(260), D(-2000), D(-1000))
    assert (result.margin_ratio, result.status) == (None, "liquidatable")
    # LP = (1,000 + 50 + 60,000) / (2 x 1.005) = 30,373.134... rounded down to 30,373.1
    assert result.liquidation_price == D("30373.1")


@pytest.mark.parametrize("margin, ratio, status", [
    (D("250"), D("0.8"), "margin_call"),          # 200 / 250 = 0.8: at the threshold
    (D("250.01"), D("0.79996801"), "healthy"),    # just below it (rounded up)
    (D("200"), D("1"), "liquidatable"),           # ratio 1
    (D("200.01"), D("0.99995001"), "margin_call"),
])
def test_status_thresholds(margin, ratio, status):
    # 1 BTC at 50,000: notional 50,000, tier 1, MM = 200
    result = compute(Position(side="long", quantity=D(1), entry_price=D(50000), isolated_margin=margin))
    assert (result.maintenance_margin, result.margin_ratio, result.status) == (D(200), ratio, status)


def test_requirements_round_up_and_balance_rounds_down():
    # 0.100001 BTC at 60,000.01: notional 6,000.06100001, tier 1 (125x, MMR 0.004)
    # IM = notional / 125 = 48.00048800008, MM = notional x 0.004 = 24.00024400004: both rounded up
    result = compute(Position(side="long", quantity=D("0.100001"), entry_price=D("60000.01"),
                              isolated_margin=D("100.000000009")))
    assert (result.notional, result.tier) == (D("6000.06100001"), 1)
    assert result.initial_margin == D("48.00048801")
    assert result.maintenance_margin == D("24.00024401")
    assert result.margin_balance == D("100")  # 100.000000009 rounded down
    assert result.margin_ratio == D("0.24000245")  # 24.00024401 / 100 = 0.2400024401, rounded up


def test_two_positions_of_one_account_depend_only_on_their_own_inputs():
    a = Position(side="long", quantity=D(10), entry_price=D(60000), isolated_margin=D(30000), mark_price=D(59500))
    b = Position(side="long", quantity=D(3), entry_price=D(61000), isolated_margin=D(100), mark_price=D(59500))
    alone_a, alone_b = compute(a), compute(b)
    together = [compute(p) for p in (b, a, b, a)]
    assert together == [alone_b, alone_a, alone_b, alone_a]
    assert alone_b.status == "liquidatable" and alone_a.status == "healthy"


@pytest.mark.parametrize("kwargs, message", [
    ({"side": "up"}, "side must be long or short, got 'up'"),
    ({"quantity": D(-1)}, "quantity must be positive, got -1"),
    ({"quantity": D(0)}, "quantity must be positive, got 0"),
    ({"entry_price": D(0)}, "entry_price must be positive, got 0"),
    ({"isolated_margin": D(-5)}, "isolated_margin must not be negative, got -5"),
    ({"mark_price": D("-1")}, "mark_price must be positive, got -1"),
    ({"quantity": 1.5}, "quantity must be a Decimal, not float (1.5)"),
    ({"quantity": True}, "quantity must be a Decimal, not bool (True)"),
    ({"entry_price": D("NaN")}, "entry_price must be a finite number, got NaN"),
    ({"quantity": "1"}, "quantity must be a Decimal, got str"),
])
def test_bad_positions_are_refused_with_a_clear_message(kwargs, message):
    fields = {"side": "long", "quantity": D(1), "entry_price": D(100), "isolated_margin": D(10), **kwargs}
    with pytest.raises(InvalidInput) as raised:
        Position(**fields)
    assert raised.value.message == message
    assert (raised.value.code, raised.value.http_status) == ("invalid_input", 400)


def test_threshold_must_lie_between_0_and_1():
    with pytest.raises(InvalidInput) as raised:
        compute(Position(side="long", quantity=D(1), entry_price=D(100), isolated_margin=D(10)), threshold=D(1))
    assert raised.value.message == "margin_call_threshold must be between 0 and 1, got 1"


def test_notional_beyond_the_table_is_refused():
    with pytest.raises(NotionalBeyondTiers) as raised:
        compute(Position(side="long", quantity=D(40000), entry_price=D(60000), isolated_margin=D(10**9)))
    assert raised.value.message == "notional 2400000000 is above the last tier's cap 1800000000"


def test_an_input_beyond_the_engines_range_is_an_invalid_input():
    with pytest.raises(InvalidInput, match=r"^entry_price is out of range: 1E\+61 \(at most 60 digits either side"):
        Position(side="long", quantity=D(1), entry_price=D("1e61"), isolated_margin=D(0))
    assert Position(side="long", quantity=D(1), entry_price=D("1e60"), isolated_margin=D("1e-60")).entry_price == D(
        "1e60")


def test_a_rounding_beyond_80_digits_is_an_invalid_input_not_a_decimal_trap():
    from governance.margin.numbers import round_up

    with pytest.raises(InvalidInput) as raised:
        round_up(D("1e75"), D("1e-8"))
    assert raised.value.message == ("an amount of about 1.000E+75 cannot be computed exactly to 1E-8: it needs "
                                    "more than 80 significant digits")
