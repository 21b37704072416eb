from decimal import Decimal as D

import pytest

from governance.margin import AppliedMultiplier, InvalidInput, VolatilityBand, multiplier_resolve

BANDS = (VolatilityBand(D(0), D(1)), VolatilityBand(D("0.6"), D("1.1")), VolatilityBand(D(1), D("1.25")))


@pytest.mark.parametrize("vol, band, mult", [
    (None, 1, D(1)), (D(0), 1, D(1)), (D("0.5999"), 1, D(1)), (D("0.6"), 2, D("1.1")),
    (D("0.99"), 2, D("1.1")), (D(1), 3, D("1.25")), (D(7), 3, D("1.25")),
])
def test_band_applies_from_its_threshold_to_the_next(vol, band, mult):
    applied = multiplier_resolve(bands=BANDS, realized_volatility=vol)
    assert (applied.band, applied.band_multiplier, applied.effective) == (band, mult, mult)


def test_effective_multiplier_is_band_times_global_times_group():
    applied = multiplier_resolve(bands=BANDS, realized_volatility=D("0.7"), global_multiplier=D("1.2"),
                                 group="high-volatility", group_multiplier=D("1.1"))
    assert applied == AppliedMultiplier(2, D("1.1"), D("1.2"), "high-volatility", D("1.1"), D("1.452"))


@pytest.mark.parametrize("kwargs, message", [
    ({"realized_volatility": D("-0.1")}, "realized volatility must not be negative, got -0.1"),
    ({"realized_volatility": 0.5}, "realized volatility must be a Decimal, not float (0.5)"),
    ({"global_multiplier": D(0)}, "multipliers must be positive"),
    ({"bands": ()}, "at least one volatility band is needed"),
])
def test_bad_multiplier_input(kwargs, message):
    with pytest.raises(InvalidInput) as raised:
        multiplier_resolve(**{"bands": BANDS, "realized_volatility": None, **kwargs})
    assert raised.value.message == message
