"""Isolated liquidation price: Binance's formula with the tier of the notional at the liquidation price."""
from decimal import Decimal as D
from decimal import localcontext
from fractions import Fraction

import pytest

from governance.margin import (
    InvalidInput,
    Position,
    liquidation_price_compute,
    liquidation_price_exact,
    maintenance_margin_exact,
    requirements_compute,
)
from governance.margin.numbers import CONTEXT
from tests.margin.tables import BTCUSDT


def naive_entry_tier_price(position, tier):
    """The formula evaluated with a given tier: what a naive engine does with the entry tier."""
    q, ep, wb = position.size, position.entry_price, position.isolated_margin
    mmr, cum = tier.maintenance_margin_rate, tier.maintenance_amount
    if position.side == "long":
        return (wb + cum - q * ep) / (q * (mmr - 1))
    return (wb + cum + q * ep) / (q * (1 + mmr))


def test_long_whose_tier_at_liquidation_is_below_its_entry_tier():
    # Source: Binance isolated liquidation price, one-way mode, and its FAQ note that MMR and cum are
    # those of the notional at the liquidation price (shared/reference/margin-math.md).
    # Entry 10 x 65,000 = 650,000 (tier 3). At LP = 59,000 the notional is 590,000 (tier 2:
    # MMR 0.005, cum 50): balance 62,900 + 10 x (59,000 - 65,000) = 2,900 = 590,000 x 0.005 - 50.
    position = Position(side="long", quantity=D(10), entry_price=D(65000), isolated_margin=D(62900))
    assert liquidation_price_exact(position=position, schedule=BTCUSDT) == D(59000)
    wrong = naive_entry_tier_price(position, BTCUSDT[2])
    assert wrong.quantize(D("0.01")) == D("58998.49")  # notional 589,985 is not in tier 3: inconsistent
    assert liquidation_price_compute(position=position, schedule=BTCUSDT, tick_size=D("0.1")) == D(59000)


def test_short_whose_tier_at_liquidation_is_above_its_entry_tier():
    # Same source. Entry 10 x 55,000 = 550,000 (tier 2). At LP = 62,000 the notional is 620,000
    # (tier 3: MMR 0.0065, cum 950): balance 73,080 - 70,000 = 3,080 = 620,000 x 0.0065 - 950.
    position = Position(side="short", quantity=D(10), entry_price=D(55000), isolated_margin=D(73080))
    assert liquidation_price_exact(position=position, schedule=BTCUSDT) == D(62000)
    wrong = naive_entry_tier_price(position, BTCUSDT[1])
    assert wrong.quantize(D("0.01")) == D("62002.99")  # notional 620,030 is not in tier 2: inconsistent


@pytest.mark.parametrize("side, exact, published, between", [
    # 100 of margin on 60,000: less than the maintenance margin at entry, so the long's price is
    # above its entry and the short's below it (tier 2 either way: MMR 0.005, cum 50)
    ("long", (D(100) + 50 - 60000, D("0.005") - 1), D("60150.8"), D("60150.75")),
    ("short", (D(100) + 50 + 60000, 1 + D("0.005")), D("59850.7"), D("59850.76")),
])
def test_a_price_beyond_the_entry_is_rounded_to_the_exchange_s_side_too(side, exact, published, between):
    position = Position(side=side, quantity=D(1), entry_price=D(60000), isolated_margin=D(100))
    assert liquidation_price_exact(position=position, schedule=BTCUSDT) == CONTEXT.divide(*exact)
    assert liquidation_price_compute(position=position, schedule=BTCUSDT, tick_size=D("0.1")) == published
    # a mark just past the exact price, on the side where the position is liquidatable (which the
    # price rounded towards the entry would not reach): the published price is reached there too
    at = Position(side=side, quantity=D(1), entry_price=D(60000), isolated_margin=D(100), mark_price=between)
    assert requirements_compute(position=at, schedule=BTCUSDT, margin_call_threshold=D("0.8"),
                                tick_size=D("0.1")).status == "liquidatable"
    assert (between <= published) if side == "long" else (between >= published)


def test_balance_equals_maintenance_margin_at_the_liquidation_price():
    position = Position(side="long", quantity=D("10"), entry_price=D("60000"), isolated_margin=D("30000"))
    lp = liquidation_price_exact(position=position, schedule=BTCUSDT)
    with localcontext(CONTEXT):
        balance = position.isolated_margin + position.pnl_at(lp)
        maintenance = maintenance_margin_exact(schedule=BTCUSDT, notional=position.size * lp)
        assert abs(balance - maintenance) < D("1e-70")


@pytest.mark.parametrize("side, exact, rounded", [
    # long, LP notional ~572,814 in tier 2 (MMR 0.005, cum 50): (30,000 + 50 - 600,000) / (10 x -0.995),
    # 57,281.407... rounded up to the tick, towards the entry price
    ("long", Fraction(569950 * 1000, 9950), "57281.5"),
    # short, LP notional ~626,875 in tier 3 (MMR 0.0065, cum 950): (30,000 + 950 + 600,000) / (10 x 1.0065),
    # 62,687.531... rounded down to the tick, towards the entry price
    ("short", Fraction(630950 * 10000, 100650), "62687.5"),
])
def test_rounding_goes_towards_the_entry_price(side, exact, rounded):
    position = Position(side=side, quantity=D(10), entry_price=D(60000), isolated_margin=D(30000))
    lp = liquidation_price_exact(position=position, schedule=BTCUSDT)
    assert abs(Fraction(lp) - exact) < Fraction(1, 10**70)
    assert liquidation_price_compute(position=position, schedule=BTCUSDT, tick_size=D("0.1")) == D(rounded)


def test_fully_collateralised_long_has_no_liquidation_price():
    position = Position(side="long", quantity=D(1), entry_price=D(60000), isolated_margin=D(60000))
    assert liquidation_price_compute(position=position, schedule=BTCUSDT, tick_size=D("0.1")) is None


def test_short_whose_liquidation_notional_is_beyond_the_last_cap_has_none():
    position = Position(side="short", quantity=D(1000), entry_price=D(60000), isolated_margin=D("5000000000"))
    assert liquidation_price_exact(position=position, schedule=BTCUSDT) is None


def test_tick_size_must_be_positive():
    position = Position(side="long", quantity=D(1), entry_price=D(60000), isolated_margin=D(600))
    with pytest.raises(InvalidInput) as raised:
        liquidation_price_compute(position=position, schedule=BTCUSDT, tick_size=D(0))
    assert raised.value.message == "tick_size must be positive, got 0"
