"""The strict reader on its own: exact Decimals, scalar resolution, limits."""
from decimal import Decimal

import pytest

from governance.rulefiles.strict_yaml import MAX_DEPTH, scalar_resolve, yaml_parse


def test_numbers_are_exact_decimals_and_keep_their_digits():
    parsed = yaml_parse("a: 0.004\nb: 1200000000\nc: -0.10\nd: '0.004'\n", source="f.yaml")
    assert parsed.errors == []
    assert parsed.data == {"a": Decimal("0.004"), "b": Decimal("1200000000"), "c": Decimal("-0.10"), "d": "0.004"}
    assert str(parsed.data["a"]) == "0.004"
    assert str(parsed.data["c"]) == "-0.10"
    assert type(parsed.data["a"]) is Decimal


@pytest.mark.parametrize("text, value", [
    ("true", True), ("False", False), ("null", None), ("~", None), ("", None),
    ("0", Decimal("0")), ("0.5", Decimal("0.5")), ("+3", Decimal("3")), (".5", Decimal("0.5")),
    ("BTCUSDT", "BTCUSDT"), ("1000PEPEUSDT", "1000PEPEUSDT"), ("Infinity", "Infinity"),
])
def test_plain_scalars_resolve_by_yaml_1_2_core_rules(text, value):
    assert scalar_resolve(text) == (value, None)


@pytest.mark.parametrize("text, reason", [
    ("on", "ambiguous value 'on': YAML 1.1 reads it as a boolean; write true or false, or quote it for a string"),
    ("N", "ambiguous value 'N': YAML 1.1 reads it as a boolean; write true or false, or quote it for a string"),
    ("0x1F", "'0x1F' is not allowed: write numbers in plain decimal notation"),
    ("0o17", "'0o17' is not allowed: write numbers in plain decimal notation"),
    ("1_000", "'1_000' is not allowed: write numbers without '_' separators"),
    ("-.inf", "'-.inf' is not allowed: infinity and NaN are not numbers a rule can hold"),
    (".nan", "'.nan' is not allowed: infinity and NaN are not numbers a rule can hold"),
    ("00.5", "ambiguous number '00.5': YAML 1.1 reads a leading zero as octal; remove the leading zero"),
    ("2024-01-01T00:00:00Z", "ambiguous value '2024-01-01T00:00:00Z': YAML 1.1 reads it as a date; quote it for a string"),
    ("190:20:30", "ambiguous value '190:20:30': YAML 1.1 reads it as a base-60 number; quote it for a string"),
])
def test_yaml_1_1_surprises_are_refused(text, reason):
    assert scalar_resolve(text) == (None, reason)


def test_quoted_scalars_are_always_strings():
    parsed = yaml_parse("a: 'no'\nb: \"010\"\nc: '1:30'\n", source="f.yaml")
    assert parsed.errors == []
    assert parsed.data == {"a": "no", "b": "010", "c": "1:30"}


def test_file_over_the_size_bound_is_refused_before_parsing():
    parsed = yaml_parse("a: 1\n" * 10, source="f.yaml", max_bytes=20)
    assert [str(e) for e in parsed.errors] == ["f.yaml:1:1: file is 50 bytes; the limit is 20"]
    assert parsed.data is None


def test_invalid_utf8_is_located():
    parsed = yaml_parse(b"a: 1\nb: \xff\n", source="f.yaml")
    assert [str(e) for e in parsed.errors] == ["f.yaml:2:4: file is not valid UTF-8"]


def test_byte_order_mark_is_accepted():
    parsed = yaml_parse("\ufeffa: 1\n".encode(), source="f.yaml")
    assert parsed.errors == [] and parsed.data == {"a": Decimal("1")}


def test_nesting_is_bounded():
    text = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    parsed = yaml_parse(text, source="f.yaml")
    assert [e.message for e in parsed.errors] == [f"nesting deeper than {MAX_DEPTH} levels is not allowed"]


def test_every_value_and_key_is_located():
    parsed = yaml_parse("a:\n  - b: 1\n    c: x\n", source="f.yaml")
    assert parsed.value_marks[("a", 0, "c")] == (3, 8)
    assert parsed.key_marks[("a", 0, "c")] == (3, 5)
    assert parsed.location(("a", 0, "missing")) == (2, 5)
