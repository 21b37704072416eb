"""Decimal arithmetic for the engine: one explicit context, explicit rounding, no floats."""
from __future__ import annotations

import re
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from governance.margin.errors import InvalidInput

# 80 significant digits: a 38-digit notional times a rate, plus the digits of a
# quotient, stay exact wherever the operands are; results are rounded only by
# the explicit quantize calls below.
CONTEXT = Context(prec=80, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
                  traps=[InvalidOperation, DivisionByZero, Overflow])
AMOUNT_QUANTUM = Decimal("1e-8")
# Inputs beyond 1e60 (or below 1e-60) are no exchange's numbers; bounding them keeps every
# product within the context (an overflow would be a decimal trap, not an error to show).
MAGNITUDE = 60
ZERO, ONE = Decimal(0), Decimal(1)


def decimal_require(name: str, value: object) -> Decimal:
    """The value as a finite Decimal; ints are accepted, floats and bools refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput(f"{name} must be a Decimal, not {type(value).__name__} ({value!r})")
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, Decimal):
        raise InvalidInput(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise InvalidInput(f"{name} must be a finite number, got {value}")
    if value and not -MAGNITUDE <= value.adjusted() <= MAGNITUDE:
        raise InvalidInput(f"{name} is out of range: {value} (at most {MAGNITUDE} digits either side of the point)")
    return value


# Decimals typed or sent as text: ASCII digits with at most one point, an optional minus. What
# Decimal() alone would also read is refused: "1_0" (ten), " 1 ", "1E+2", "Infinity", other
# scripts' digits; a misplaced character must not pass as a different number.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def decimal_parse(text: str) -> Decimal:
    """A decimal in plain notation, exactly; ValueError for any other text."""
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise ValueError(f"not a decimal in plain notation (digits, at most one point): {text!r}")
    return Decimal(text)


# A product with a non-terminating rate (multiplier / leverage, held to 80 digits) carries
# representation noise in its last digits; rounding it to 64 significant digits first
# removes the noise, so a product that is exactly on a quantum is not pushed past it.
_DENOISE = Context(prec=64, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)


def denoise(value: Decimal) -> Decimal:
    return _DENOISE.plus(value)


def _beyond_precision(value: Decimal, quantum: Decimal) -> InvalidInput:
    return InvalidInput(f"an amount of about {value:.3E} cannot be computed exactly to {quantum}: it needs more "
                        f"than {CONTEXT.prec} significant digits")


def round_up(value: Decimal, quantum: Decimal) -> Decimal:
    try:
        return value.quantize(quantum, rounding=ROUND_CEILING, context=CONTEXT)
    except (InvalidOperation, Overflow):
        raise _beyond_precision(value, quantum) from None


def round_down(value: Decimal, quantum: Decimal) -> Decimal:
    try:
        return value.quantize(quantum, rounding=ROUND_FLOOR, context=CONTEXT)
    except (InvalidOperation, Overflow):
        raise _beyond_precision(value, quantum) from None


def round_to_step(value: Decimal, step: Decimal, *, up: bool) -> Decimal:
    """Round to a multiple of `step` (a tick size), up or down."""
    try:
        steps = CONTEXT.divide(value, step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
        return CONTEXT.multiply(steps, step)
    except (InvalidOperation, Overflow):
        raise _beyond_precision(value, step) from None


def decimal_text(value: Decimal | None) -> str | None:
    """Plain notation for JSON without trailing zeros, never an exponent."""
    return None if value is None else format(value.normalize(CONTEXT), "f")
