"""Whatever bytes come in, the loader returns a validated rule set or located errors, never raises."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.rulefiles import RuleError, rulefile_parse, ruleset_validate
from tests.rulefiles.samples import CONTRACT, EXCHANGE, POLICY

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML_BITS = st.sampled_from([
    ": ", "- ", "\n", "  ", "{", "}", "[", "]", ",", "&a ", "*a", "!!python/object ", "!t ", "---\n", "'", '"',
    "no", "010", "1:30", "2024-01-01", "0.004", "-1", "1e5", ".inf", "~", "#", "? ", "|", ">", "\t", "\x00",
    "tiers", "floor", "cap", "max_leverage", "maintenance_margin_rate", "schema", "contract/v1", "\ufeff", "é",
])


def _check(content, file_stem="TESTUSDT"):
    rule_file = rulefile_parse(content, source="rules/contracts/TESTUSDT.yaml", file_stem=file_stem)
    ruleset = ruleset_validate([rule_file])
    if rule_file.errors:
        assert rule_file.document is None
        for error in rule_file.errors:
            assert isinstance(error, RuleError)
            assert error.line >= 1 and error.column >= 1 and error.message
            assert str(error).startswith("rules/contracts/TESTUSDT.yaml:")
    else:
        assert rule_file.document is not None or rule_file.kind is None
    return ruleset


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(content):
    _check(content)


@FUZZ
@given(st.lists(YAML_BITS, max_size=60).map("".join))
def test_yaml_shaped_noise(text):
    _check(text)


@FUZZ
@given(st.sampled_from([CONTRACT, EXCHANGE, POLICY]), st.integers(0, 2000), st.integers(0, 40),
       st.lists(YAML_BITS, max_size=5).map("".join))
def test_mutated_valid_files(base, at, cut, insert):
    at = at % (len(base) + 1)
    _check(base[:at] + insert + base[at + cut:])
