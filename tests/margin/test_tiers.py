from decimal import Decimal as D

import pytest

from governance.margin import (
    InvalidInput,
    InvalidSchedule,
    NotionalBeyondTiers,
    Tier,
    maintenance_margin_exact,
    schedule_build,
    tier_select,
)
from tests.margin.tables import BTCUSDT, BTCUSDT_CUM, BTCUSDT_TIERS


def test_derived_maintenance_amounts_match_the_published_cum_column():
    # Source: Binance BTCUSDT leverage brackets, Oct 2024 (shared/reference/margin-math.md), "cum" column.
    assert [t.maintenance_amount for t in BTCUSDT] == BTCUSDT_CUM


@pytest.mark.parametrize("boundary, expected", [(D("50000"), D("200")), (D("600000"), D("2950")),
                                                (D("3000000"), D("18550"))])
def test_maintenance_margin_is_equal_on_both_sides_of_a_boundary(boundary, expected):
    # Source: margin-math.md: "Maintenance margin at 50,000 is 200 from either side; at 600,000
    # it is 2,950; at 3,000,000 it is 18,550."
    below = tier_select(schedule=BTCUSDT, notional=boundary)
    above = tier_select(schedule=BTCUSDT, notional=boundary + D("0.01"))
    assert above.number == below.number + 1
    assert boundary * below.maintenance_margin_rate - below.maintenance_amount == expected
    assert boundary * above.maintenance_margin_rate - above.maintenance_amount == expected


def test_every_boundary_is_continuous_under_any_multiplier():
    for multiplier in (D("1"), D("1.1"), D("1.25"), D("1.5"), D("1.99")):
        schedule = schedule_build(tiers=BTCUSDT_TIERS, multiplier=multiplier)
        for below, above in zip(schedule, schedule[1:]):
            at_cap = below.cap
            assert (at_cap * below.maintenance_margin_rate - below.maintenance_amount
                    == at_cap * above.maintenance_margin_rate - above.maintenance_amount)


@pytest.mark.parametrize("notional, tier", [
    (D("0"), 1), (D("1"), 1), (D("50000"), 1), (D("50000.00000001"), 2), (D("600000"), 2),
    (D("1799999999.99"), 12), (D("1800000000"), 12),
])
def test_a_tier_covers_floor_exclusive_to_cap_inclusive(notional, tier):
    # Binance announcements write a tier as floor < notional <= cap (margin-math.md).
    assert tier_select(schedule=BTCUSDT, notional=notional).number == tier


def test_notional_above_the_last_cap_is_an_error_not_an_extrapolation():
    with pytest.raises(NotionalBeyondTiers) as raised:
        tier_select(schedule=BTCUSDT, notional=D("1800000000.01"))
    assert raised.value.message == "notional 1800000000.01 is above the last tier's cap 1800000000"
    assert (raised.value.code, raised.value.http_status) == ("notional_beyond_tiers", 422)


def test_multiplier_scales_rates_and_caps_the_initial_rate_at_one():
    schedule = schedule_build(tiers=BTCUSDT_TIERS, multiplier=D("1.5"))
    first, last = schedule[0], schedule[-1]
    assert (first.maintenance_margin_rate, first.initial_margin_rate) == (D("0.006"), D("0.012"))
    assert first.max_leverage == D("83." + "3" * 78)  # 125 / 1.5 at 80 significant digits
    assert (last.maintenance_margin_rate, last.initial_margin_rate, last.max_leverage) == (D("0.75"), D("1"), D("1"))
    assert schedule[1].maintenance_amount == D("50000") * (D("0.0075") - D("0.006"))


@pytest.mark.parametrize("tiers, multiplier, message", [
    ([], D(1), "a schedule needs at least one tier"),
    ([Tier(D(1), D(10), D(10), D("0.01"))], D(1), "tier 1 must start at 0, got 1"),
    ([Tier(D(0), D(10), D(10), D("0.01")), Tier(D(11), D(20), D(5), D("0.02"))], D(1),
     "tier 2 floor 11 must equal tier 1 cap 10"),
    ([Tier(D(0), D(0), D(10), D("0.01"))], D(1), "tier 1 cap 0 must be above its floor 0"),
    ([Tier(D(0), D(10), D(10), D("0.1"))], D(1),
     "tier 1: maintenance margin rate 0.1 is not below the initial margin rate 0.1 under multiplier 1"),
    (BTCUSDT_TIERS, D(2), "tier 12: maintenance margin rate 1.0 is not below the initial margin rate 1 under multiplier 2"),
    (BTCUSDT_TIERS, D(0), "multiplier must be positive, got 0"),
])
def test_unusable_schedules_are_refused(tiers, multiplier, message):
    with pytest.raises(InvalidSchedule) as raised:
        schedule_build(tiers=tiers, multiplier=multiplier)
    assert raised.value.message == message


def test_floats_never_enter():
    with pytest.raises(InvalidInput) as raised:
        schedule_build(tiers=BTCUSDT_TIERS, multiplier=1.5)
    assert raised.value.message == "multiplier must be a Decimal, not float (1.5)"
    with pytest.raises(InvalidInput):
        maintenance_margin_exact(schedule=BTCUSDT, notional=0.1)


def test_38_digit_notionals_do_not_round():
    tiers = [Tier(D(0), D("9" * 38), D(10), D("0.0123456789"))]
    schedule = schedule_build(tiers=tiers)
    notional = 12345678901234567890123456789012345678
    whole, fraction = divmod(notional * 123456789, 10**10)  # integer arithmetic, independent of Decimal
    assert maintenance_margin_exact(schedule=schedule, notional=D(notional)) == D(f"{whole}.{fraction:010d}")
