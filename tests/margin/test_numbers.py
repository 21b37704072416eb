"""Decimals read from text: plain notation only, exactly."""
from decimal import Decimal

import pytest

from governance.margin.numbers import decimal_parse


@pytest.mark.parametrize("text, value", [("0", "0"), ("10", "10"), ("-1", "-1"), ("0.000000000000000001",
                                                                                   "0.000000000000000001"),
                                         ("60000.1234567890123456789012345", "60000.1234567890123456789012345")])
def test_plain_notation_is_read_exactly(text, value):
    assert decimal_parse(text).as_tuple() == Decimal(value).as_tuple()


# each of these Decimal() reads, as another number than meant or as no number at all
@pytest.mark.parametrize("text", ["1_0", " 1", "1 ", "1E+2", "1e-3", "Infinity", "NaN", "+1", ".5", "1.", "1.2.3",
                                  "\u0661", "", "0x10"])
def test_anything_else_is_refused_with_the_text(text):
    with pytest.raises(ValueError) as error:
        decimal_parse(text)
    assert str(error.value) == f"not a decimal in plain notation (digits, at most one point): {text!r}"
