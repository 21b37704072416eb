"""Properties of the engine over random positions (hypothesis, Decimal strategies only)."""
from decimal import Decimal as D
from decimal import ROUND_CEILING, ROUND_FLOOR, localcontext

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from governance.margin import (
    STATUSES,
    NotionalBeyondTiers,
    Position,
    liquidation_price_compute,
    liquidation_price_exact,
    maintenance_margin_exact,
    requirements_compute,
    schedule_build,
)
from governance.margin.numbers import CONTEXT
from tests.margin.tables import BTCUSDT, BTCUSDT_CUM, BTCUSDT_TIERS

PROPS = settings(max_examples=300, deadline=None)
notionals = st.decimals(min_value=0, max_value=1_800_000_000, places=4, allow_nan=False, allow_infinity=False)
multipliers = st.decimals(min_value=1, max_value=D("1.99"), places=3)
sides = st.sampled_from(["long", "short"])
quantities = st.decimals(min_value=D("0.001"), max_value=20_000, places=3)
prices = st.decimals(min_value=D("1000"), max_value=90_000, places=1)
margins = st.decimals(min_value=0, max_value=2_000_000_000, places=2)
# finer, so that balances and margins fall off the 1e-8 grid
fine_prices = st.decimals(min_value=D("1000"), max_value=90_000, places=2)
fine_margins = st.decimals(min_value=0, max_value=2_000_000_000, places=10)


@PROPS
@given(notionals, notionals, multipliers)
def test_maintenance_margin_is_continuous_and_non_decreasing(a, b, m):
    schedule = schedule_build(tiers=BTCUSDT_TIERS, multiplier=m)
    low, high = sorted((a, b))
    assert maintenance_margin_exact(schedule=schedule, notional=low) <= maintenance_margin_exact(
        schedule=schedule, notional=high)
    for below, above in zip(schedule, schedule[1:]):  # both tiers' formulas agree at every boundary
        cap = below.cap
        assert cap * below.maintenance_margin_rate - below.maintenance_amount == (
            cap * above.maintenance_margin_rate - above.maintenance_amount)


@PROPS
@given(sides, quantities, prices, margins, multipliers)
def test_at_the_liquidation_price_balance_equals_maintenance_margin(side, qty, entry, margin, m):
    schedule = schedule_build(tiers=BTCUSDT_TIERS, multiplier=m)
    position = Position(side=side, quantity=qty, entry_price=entry, isolated_margin=margin)
    lp = liquidation_price_exact(position=position, schedule=schedule)
    assume(lp is not None and lp > 0)
    with localcontext(CONTEXT):  # the test's own sums at the engine's precision, not Python's 28 digits
        balance = position.isolated_margin + position.pnl_at(lp)
        maintenance = maintenance_margin_exact(schedule=schedule, notional=position.size * lp)
        assert abs(balance - maintenance) <= D("1e-60") * max(D(1), position.size * entry)


@PROPS
@given(sides, quantities, prices, margins, st.decimals(min_value=0, max_value=1, places=4))
def test_withdrawing_margin_moves_the_liquidation_price_towards_entry(side, qty, entry, margin, share):
    richer = Position(side=side, quantity=qty, entry_price=entry, isolated_margin=margin)
    poorer = Position(side=side, quantity=qty, entry_price=entry, isolated_margin=(margin * (1 - share)).quantize(D("0.01")))
    lp_rich = liquidation_price_exact(position=richer, schedule=BTCUSDT)
    lp_poor = liquidation_price_exact(position=poorer, schedule=BTCUSDT)
    if side == "long":
        assert lp_poor is not None or lp_rich is None  # a long that had no LP may gain one, never lose it
        if lp_rich is not None:
            assert lp_poor >= lp_rich
    elif lp_poor is not None and lp_rich is not None:
        assert lp_poor <= lp_rich
    else:
        assert lp_rich is None  # a short loses its LP (beyond the table) only with more margin


@PROPS
@given(sides, quantities, prices, margins, multipliers, multipliers, st.decimals(min_value=D("0.5"), max_value=2, places=3))
def test_a_higher_multiplier_never_lowers_a_requirement(side, qty, entry, margin, m1, m2, move):
    low, high = sorted((m1, m2))
    position = Position(side=side, quantity=qty, entry_price=entry, isolated_margin=margin,
                        mark_price=(entry * move).quantize(D("0.1")))
    try:
        results = [requirements_compute(position=position, schedule=schedule_build(tiers=BTCUSDT_TIERS, multiplier=m),
                                        margin_call_threshold=D("0.8"), tick_size=D("0.1")) for m in (low, high)]
    except NotionalBeyondTiers:
        assume(False)
    before, after = results
    assert after.initial_margin >= before.initial_margin
    assert after.maintenance_margin >= before.maintenance_margin
    assert STATUSES.index(after.status) >= STATUSES.index(before.status)


def exact_requirements(side, qty, entry, margin, mark, m):
    """Initial and maintenance margin and balance, unrounded, from the published table and cum column."""
    with localcontext() as context:
        context.prec = 200
        price = entry if mark is None else mark
        notional = qty * price
        number = next((i for i, t in enumerate(BTCUSDT_TIERS) if notional <= t.cap), None)
        if number is None:
            return None
        tier = BTCUSDT_TIERS[number]
        initial = notional if m >= tier.max_leverage else notional * m / tier.max_leverage
        maintenance = m * (notional * tier.maintenance_margin_rate - BTCUSDT_CUM[number])
        pnl = qty * (price - entry) * (1 if side == "long" else -1)
        return initial, maintenance, margin + pnl


@PROPS
@given(sides, quantities, fine_prices, fine_margins, st.none() | fine_prices, multipliers,
       st.sampled_from([D("0.1"), D("0.5"), D("1"), D("10")]))
# off the 1e-8 grid: IM 159.99981333336, MM 79.99990666668, balance 100.116796789
@example("long", D("0.333"), D("60000.01"), D("100.123456789"), D("59999.99"), D("1.001"), D("0.1"))
def test_rounding_is_on_the_exchange_s_side(side, qty, entry, margin, mark, m, tick):
    exact = exact_requirements(side, qty, entry, margin, mark, m)
    assume(exact is not None)
    exact_im, exact_mm, exact_balance = exact
    schedule = schedule_build(tiers=BTCUSDT_TIERS, multiplier=m)
    position = Position(side=side, quantity=qty, entry_price=entry, isolated_margin=margin, mark_price=mark)
    result = requirements_compute(position=position, schedule=schedule, margin_call_threshold=D("0.8"), tick_size=tick)
    assert result.initial_margin == exact_im.quantize(D("1e-8"), ROUND_CEILING)
    assert result.maintenance_margin == exact_mm.quantize(D("1e-8"), ROUND_CEILING)
    assert result.margin_balance == exact_balance.quantize(D("1e-8"), ROUND_FLOOR)
    exact_lp = liquidation_price_exact(position=position, schedule=schedule)
    if exact_lp is not None:
        rounded = liquidation_price_compute(position=position, schedule=schedule, tick_size=tick)
        assert abs(rounded - exact_lp) < tick
        # a long is liquidated at the published price or above it, a short at it or below
        assert (rounded >= exact_lp) if side == "long" else (rounded <= exact_lp)
