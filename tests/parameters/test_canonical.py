"""The canonical form: trailing zeros, key order and quoting do not count; every digit does."""
from decimal import Decimal as D

from governance.parameters.canonical import canonical_json, content_hash


def test_trailing_zeros_and_key_order_do_not_change_the_form():
    assert canonical_json({"b": D("0.0050"), "a": [D("1.10"), D("100")]}) == '{"a":["1.1","100"],"b":"0.005"}'


def test_a_digit_beyond_the_28th_still_changes_the_hash():
    long, short = D("0.0049999999999999999999999999999"), D("0.005")
    assert canonical_json({"x": long}) == '{"x":"0.0049999999999999999999999999999"}'
    assert content_hash(canonical_json({"x": long})) != content_hash(canonical_json({"x": short}))
