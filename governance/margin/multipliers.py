"""Volatility bands and exchange-wide multipliers: which applies, and the effective product."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from governance.margin.errors import InvalidInput
from governance.margin.numbers import CONTEXT, ONE, decimal_require


@dataclass(frozen=True, slots=True)
class VolatilityBand:
    """Applies from `min_volatility` (annualised realized volatility) up to the next band's."""

    min_volatility: Decimal
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class AppliedMultiplier:
    band: int
    band_multiplier: Decimal
    global_multiplier: Decimal
    group: str | None
    group_multiplier: Decimal
    effective: Decimal


def multiplier_resolve(*, bands: Sequence[VolatilityBand], realized_volatility: Decimal | None,
                       global_multiplier: Decimal = ONE, group: str | None = None,
                       group_multiplier: Decimal = ONE) -> AppliedMultiplier:
    """The band for `realized_volatility` (the first band when it is unknown) and band x global x group.

    `bands` may be any objects with `min_volatility` and `multiplier`, ordered, the first from 0.
    """
    if not bands:
        raise InvalidInput("at least one volatility band is needed")
    g = decimal_require("global multiplier", global_multiplier)
    gm = decimal_require("group multiplier", group_multiplier)
    if g <= 0 or gm <= 0:
        raise InvalidInput("multipliers must be positive")
    band = 1
    if realized_volatility is not None:
        vol = decimal_require("realized volatility", realized_volatility)
        if vol < 0:
            raise InvalidInput(f"realized volatility must not be negative, got {vol}")
        band = sum(1 for b in bands if b.min_volatility <= vol) or 1
    band_multiplier = decimal_require("band multiplier", bands[band - 1].multiplier)
    effective = CONTEXT.multiply(CONTEXT.multiply(band_multiplier, g), gm)
    return AppliedMultiplier(band, band_multiplier, g, group, gm, effective)
