"""Margin requirements and status of one isolated position."""
from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, localcontext

from governance.margin.errors import InvalidInput
from governance.margin.liquidation import liquidation_price_compute
from governance.margin.numbers import (
    AMOUNT_QUANTUM,
    CONTEXT,
    decimal_require,
    decimal_text,
    denoise,
    round_down,
    round_up,
)
from governance.margin.positions import Position
from governance.margin.tiers import Schedule, tier_select

# Only these two can be non-terminating (multiplier / leverage); published rounded on the safe side.
RATE_QUANTUM, LEVERAGE_QUANTUM = Decimal("1e-18"), Decimal("1e-8")
HEALTHY, MARGIN_CALL, LIQUIDATABLE = "healthy", "margin_call", "liquidatable"
STATUSES = (HEALTHY, MARGIN_CALL, LIQUIDATABLE)


@dataclass(frozen=True, slots=True)
class MarginResult:
    notional: Decimal
    tier: int
    max_leverage: Decimal
    initial_margin_rate: Decimal
    maintenance_margin_rate: Decimal
    maintenance_amount: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    margin_ratio: Decimal | None
    liquidation_price: Decimal | None
    status: str

    def as_json_dict(self) -> dict[str, object]:
        """Every decimal as a string in plain notation; None stays None (JSON null).

        The initial rate is rounded up to 18 places and the effective max leverage down to
        8; every other figure is exact or already rounded by `requirements_compute`.
        """
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = decimal_text(value) if isinstance(value, Decimal) or value is None else value
        out["initial_margin_rate"] = decimal_text(round_up(self.initial_margin_rate, RATE_QUANTUM))
        out["max_leverage"] = decimal_text(round_down(self.max_leverage, LEVERAGE_QUANTUM))
        return out


def status_classify(*, margin_balance: Decimal, margin_ratio: Decimal | None,
                    margin_call_threshold: Decimal) -> str:
    if margin_balance <= 0 or margin_ratio is None or margin_ratio >= 1:
        return LIQUIDATABLE
    if margin_ratio >= margin_call_threshold:
        return MARGIN_CALL
    return HEALTHY


def requirements_compute(*, position: Position, schedule: Schedule, margin_call_threshold: Decimal,
                         tick_size: Decimal, quantum: Decimal = AMOUNT_QUANTUM) -> MarginResult:
    """Requirements at the mark price (else the entry price), rounded on the exchange's safe side.

    Initial and maintenance margin and the margin ratio are rounded up to `quantum`, the
    margin balance down; ratio and status are computed from these rounded figures, so anyone
    recomputing from the published numbers reaches the same status. The ratio is None when
    the balance is not positive.
    """
    threshold = decimal_require("margin_call_threshold", margin_call_threshold)
    if not 0 < threshold < 1:
        raise InvalidInput(f"margin_call_threshold must be between 0 and 1, got {threshold}")
    quantum = decimal_require("quantum", quantum)
    with localcontext(CONTEXT):
        notional = position.size * position.price
        tier = tier_select(schedule=schedule, notional=notional)
        initial_margin = round_up(denoise(notional * tier.initial_margin_rate), quantum)
        maintenance_margin = round_up(notional * tier.maintenance_margin_rate - tier.maintenance_amount, quantum)
        pnl = position.pnl_at(position.price)
        balance = round_down(position.isolated_margin + pnl, quantum)
        ratio = round_up(maintenance_margin / balance, quantum) if balance > 0 else None
    return MarginResult(
        notional=notional,
        tier=tier.number,
        max_leverage=tier.max_leverage,
        initial_margin_rate=tier.initial_margin_rate,
        maintenance_margin_rate=tier.maintenance_margin_rate,
        maintenance_amount=tier.maintenance_amount,
        initial_margin=initial_margin,
        maintenance_margin=maintenance_margin,
        unrealized_pnl=pnl,
        margin_balance=balance,
        margin_ratio=ratio,
        liquidation_price=liquidation_price_compute(position=position, schedule=schedule, tick_size=tick_size),
        status=status_classify(margin_balance=balance, margin_ratio=ratio, margin_call_threshold=threshold),
    )
