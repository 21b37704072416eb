"""One isolated position: its own collateral, nothing shared with any other position."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from governance.margin.errors import InvalidInput
from governance.margin.numbers import CONTEXT, ONE, decimal_require

SIDES = ("long", "short")


@dataclass(frozen=True, slots=True)
class Position:
    side: str
    quantity: Decimal
    entry_price: Decimal
    isolated_margin: Decimal
    contract_size: Decimal = ONE
    mark_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise InvalidInput(f"side must be long or short, got {self.side!r}")
        for name in ("quantity", "entry_price", "contract_size"):
            value = decimal_require(name, getattr(self, name))
            if value <= 0:
                raise InvalidInput(f"{name} must be positive, got {value}")
            object.__setattr__(self, name, value)
        margin = decimal_require("isolated_margin", self.isolated_margin)
        if margin < 0:
            raise InvalidInput(f"isolated_margin must not be negative, got {margin}")
        object.__setattr__(self, "isolated_margin", margin)
        if self.mark_price is not None:
            mark = decimal_require("mark_price", self.mark_price)
            if mark <= 0:
                raise InvalidInput(f"mark_price must be positive, got {mark}")
            object.__setattr__(self, "mark_price", mark)

    @property
    def size(self) -> Decimal:
        """Base units: quantity x contract size."""
        return CONTEXT.multiply(self.quantity, self.contract_size)

    @property
    def price(self) -> Decimal:
        """The price requirements are computed at: the mark price, else the entry price."""
        return self.mark_price if self.mark_price is not None else self.entry_price

    def pnl_at(self, price: Decimal) -> Decimal:
        move = CONTEXT.subtract(price, self.entry_price)
        pnl = CONTEXT.multiply(self.size, move)
        return pnl if self.side == "long" else CONTEXT.minus(pnl)
