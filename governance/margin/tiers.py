"""Tier schedules: published tiers, scaled by a multiplier, with derived maintenance amounts."""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from governance.margin.errors import InvalidSchedule, NotionalBeyondTiers
from governance.margin.numbers import CONTEXT, ONE, ZERO, decimal_require


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier as published: floor < notional <= cap (the first tier includes 0)."""

    floor: Decimal
    cap: Decimal
    max_leverage: Decimal
    maintenance_margin_rate: Decimal


@dataclass(frozen=True, slots=True)
class ScheduledTier:
    """A tier with the effective multiplier applied and its maintenance amount derived.

    Rates are exact: the maintenance rate is a product of finite decimals; the initial
    rate is multiplier / max leverage at 80 significant digits, capped at 1.
    """

    number: int
    floor: Decimal
    cap: Decimal
    max_leverage: Decimal
    initial_margin_rate: Decimal
    maintenance_margin_rate: Decimal
    maintenance_amount: Decimal


Schedule = tuple[ScheduledTier, ...]


def schedule_build(*, tiers: Sequence[Tier], multiplier: Decimal = ONE) -> Schedule:
    """Scale every tier's rates by `multiplier` and derive the maintenance amounts.

    cum_1 = 0, cum_n = cum_(n-1) + floor_n x (MMR_n - MMR_(n-1)), from the scaled rates,
    so maintenance margin stays continuous at every boundary whatever the multiplier.
    """
    m = decimal_require("multiplier", multiplier)
    if m <= 0:
        raise InvalidSchedule(f"multiplier must be positive, got {m}")
    if not tiers:
        raise InvalidSchedule("a schedule needs at least one tier")
    scheduled: list[ScheduledTier] = []
    with localcontext(CONTEXT):
        cum, previous = ZERO, None
        for number, tier in enumerate(tiers, start=1):
            floor = decimal_require(f"tier {number} floor", tier.floor)
            cap = decimal_require(f"tier {number} cap", tier.cap)
            leverage = decimal_require(f"tier {number} max_leverage", tier.max_leverage)
            mmr = decimal_require(f"tier {number} maintenance_margin_rate", tier.maintenance_margin_rate)
            if number == 1 and floor != 0:
                raise InvalidSchedule(f"tier 1 must start at 0, got {floor}")
            if previous is not None and floor != previous.cap:
                raise InvalidSchedule(f"tier {number} floor {floor} must equal tier {number - 1} cap {previous.cap}")
            if cap <= floor:
                raise InvalidSchedule(f"tier {number} cap {cap} must be above its floor {floor}")
            if leverage < 1 or mmr <= 0:
                raise InvalidSchedule(f"tier {number} needs max_leverage >= 1 and a positive maintenance rate")
            scaled_mmr = mmr * m
            initial_rate = min(ONE, m / leverage)
            if scaled_mmr >= initial_rate:
                raise InvalidSchedule(
                    f"tier {number}: maintenance margin rate {scaled_mmr} is not below the initial margin rate "
                    f"{initial_rate} under multiplier {m}")
            if previous is not None:
                cum = cum + floor * (scaled_mmr - previous.maintenance_margin_rate)
            effective_leverage = leverage / m if initial_rate < 1 else ONE
            previous = ScheduledTier(number, floor, cap, effective_leverage, initial_rate, scaled_mmr, cum)
            scheduled.append(previous)
    return tuple(scheduled)


def tier_select(*, schedule: Schedule, notional: Decimal) -> ScheduledTier:
    """The tier with floor < notional <= cap (the first tier also takes 0); never extrapolates."""
    notional = decimal_require("notional", notional)
    if notional < 0:
        raise NotionalBeyondTiers(f"notional {notional} is negative")
    index = bisect_left(schedule, notional, key=lambda t: t.cap)
    if index == len(schedule):
        raise NotionalBeyondTiers(f"notional {notional} is above the last tier's cap {schedule[-1].cap}")
    return schedule[index]


def maintenance_margin_exact(*, schedule: Schedule, notional: Decimal) -> Decimal:
    """notional x MMR - cum of the notional's tier, unrounded."""
    tier = tier_select(schedule=schedule, notional=notional)
    return CONTEXT.subtract(CONTEXT.multiply(notional, tier.maintenance_margin_rate), tier.maintenance_amount)
