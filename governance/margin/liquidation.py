"""Isolated liquidation price, one-way mode (Binance convention), solved across tiers.

With WB the isolated margin, Q the size in base units, EP the entry price:
  long  LP = (WB + cum - Q x EP) / (Q x (MMR - 1))
  short LP = (WB + cum + Q x EP) / (Q x (1 + MMR))
where (MMR, cum) belong to the tier of the notional AT the liquidation price.
The tier is found in notional space: balance minus maintenance margin is monotonic
in the notional N (rising for a long, falling for a short) and can be evaluated
exactly at every cap, with no division; the formula then gives the price.
"""
from __future__ import annotations

from decimal import Decimal, localcontext

from governance.margin.errors import InvalidInput
from governance.margin.numbers import CONTEXT, ONE, decimal_require, round_to_step
from governance.margin.positions import Position
from governance.margin.tiers import Schedule, ScheduledTier


def _surplus(position: Position, tier: ScheduledTier, notional: Decimal, entry_notional: Decimal) -> Decimal:
    """Margin balance minus maintenance margin when the position's notional is `notional`."""
    pnl = notional - entry_notional if position.side == "long" else entry_notional - notional
    return position.isolated_margin + pnl - (notional * tier.maintenance_margin_rate - tier.maintenance_amount)


def liquidation_tier_find(*, position: Position, schedule: Schedule) -> ScheduledTier | None:
    """The tier holding the notional at the liquidation price, or None when there is none.

    None for a long whose margin covers the whole entry notional (no positive price
    liquidates it), and whenever the root lies beyond the last tier's cap.
    """
    with localcontext(CONTEXT):
        entry_notional = position.size * position.entry_price
        if position.side == "long" and position.isolated_margin >= entry_notional:
            return None
        for tier in schedule:
            surplus = _surplus(position, tier, tier.cap, entry_notional)
            if (surplus >= 0) if position.side == "long" else (surplus <= 0):
                return tier
    return None


def liquidation_price_exact(*, position: Position, schedule: Schedule) -> Decimal | None:
    """The unrounded liquidation price (80 significant digits), or None (see liquidation_tier_find)."""
    tier = liquidation_tier_find(position=position, schedule=schedule)
    if tier is None:
        return None
    with localcontext(CONTEXT):
        q, ep, wb = position.size, position.entry_price, position.isolated_margin
        mmr, cum = tier.maintenance_margin_rate, tier.maintenance_amount
        if position.side == "long":
            return (wb + cum - q * ep) / (q * (mmr - ONE))
        return (wb + cum + q * ep) / (q * (ONE + mmr))


def liquidation_price_compute(*, position: Position, schedule: Schedule, tick_size: Decimal) -> Decimal | None:
    """The liquidation price rounded to the tick on the exchange's safe side: up for a long, down for
    a short, so that the position is liquidated at the price published or before it. That is
    towards the entry price, except for a position already liquidatable at its entry price,
    whose liquidation price is beyond it."""
    tick = decimal_require("tick_size", tick_size)
    if tick <= 0:
        raise InvalidInput(f"tick_size must be positive, got {tick}")
    exact = liquidation_price_exact(position=position, schedule=schedule)
    if exact is None:
        return None
    return round_to_step(exact, tick, up=position.side == "long")
