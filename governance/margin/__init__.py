"""The margin engine: requirements and liquidation price of isolated positions.

Standard library only, Decimal end to end. It is the reference that the bulk
re-margining in SQL, the API's what-if and the impact preview are tested against.
"""
from governance.margin.errors import InvalidInput, InvalidSchedule, MarginError, NotionalBeyondTiers
from governance.margin.liquidation import liquidation_price_compute, liquidation_price_exact, liquidation_tier_find
from governance.margin.multipliers import AppliedMultiplier, VolatilityBand, multiplier_resolve
from governance.margin.numbers import AMOUNT_QUANTUM
from governance.margin.positions import SIDES, Position
from governance.margin.requirements import (
    HEALTHY,
    LIQUIDATABLE,
    MARGIN_CALL,
    STATUSES,
    MarginResult,
    requirements_compute,
    status_classify,
)
from governance.margin.tiers import Schedule, ScheduledTier, Tier, maintenance_margin_exact, schedule_build, tier_select

__all__ = [
    "MarginError", "InvalidInput", "InvalidSchedule", "NotionalBeyondTiers",
    "liquidation_price_compute", "liquidation_price_exact", "liquidation_tier_find",
    "AppliedMultiplier", "VolatilityBand", "multiplier_resolve", "AMOUNT_QUANTUM", "SIDES", "Position",
    "HEALTHY", "MARGIN_CALL", "LIQUIDATABLE", "STATUSES", "MarginResult", "requirements_compute",
    "status_classify", "Schedule", "ScheduledTier", "Tier", "maintenance_margin_exact", "schedule_build",
    "tier_select",
]
