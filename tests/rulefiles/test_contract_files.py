"""One valid contract file and many broken ones: each asserts the exact location and message."""
from decimal import Decimal

import pytest

from governance.rulefiles import TierRule, VolatilityBandRule
from tests.rulefiles.helpers import CONTRACT_SOURCE, error_lines, ruleset_from_texts
from tests.rulefiles.samples import CONTRACT

F = CONTRACT_SOURCE


def test_valid_contract_loads_as_exact_decimals():
    ruleset = ruleset_from_texts((F, CONTRACT))
    assert ruleset.errors == []
    contract = ruleset.contracts["TESTUSDT"]
    assert contract.tiers[0] == TierRule(Decimal("0"), Decimal("50000"), Decimal("125"), Decimal("0.004"))
    assert str(contract.tiers[2].maintenance_margin_rate) == "0.0065"
    assert contract.volatility_bands[1] == VolatilityBandRule(Decimal("1"), Decimal("1.5"))
    assert contract.margin_call_threshold == Decimal("0.8")
    assert contract.tick_size == Decimal("0.1")
    assert all(type(t.maintenance_margin_rate) is Decimal for t in contract.tiers)


CASES = [
    ("first tier starts above 0", [("  - floor: 0\n", "  - floor: 10\n")],
     [f"{F}:9:12: tiers[0].floor: the first tier must start at 0, got 10"]),
    ("gap between tiers", [("  - floor: 600000", "  - floor: 600001")],
     [f"{F}:17:12: tiers[2].floor: floor 600001 must equal the previous tier's cap 600000 (tiers must be contiguous)"]),
    ("cap below floor", [("    cap: 3000000", "    cap: 500000")],
     [f"{F}:18:10: tiers[2].cap: cap 500000 must be above the floor 600000",
      f"{F}:18:10: tiers[2].cap: cap 500000 must be above the previous tier's cap 600000"]),
    ("maintenance rate decreases", [("maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.0045")],
     [f"{F}:20:30: tiers[2].maintenance_margin_rate: maintenance margin rate 0.0045 is below the previous tier's 0.005; rates must not decrease from tier to tier"]),
    ("leverage increases", [("max_leverage: 75", "max_leverage: 110")],
     [f"{F}:19:19: tiers[2].max_leverage: max leverage 110 is above the previous tier's 100; leverage must not increase from tier to tier"]),
    ("maintenance not below initial", [("maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.014")],
     [f"{F}:20:30: tiers[2].maintenance_margin_rate: maintenance margin rate 0.014 must be below the initial margin rate 1/75 of max leverage 75"]),
    ("maintenance not below initial under the largest band",
     [("max_leverage: 75", "max_leverage: 2"), ("maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.45"),
      ("multiplier: 1.5", "multiplier: 2.5")],
     [f"{F}:20:30: tiers[2].maintenance_margin_rate: under the largest multiplier 2.5 (volatility band 2.5) the maintenance margin rate 0.45 becomes 1.125, not below the initial margin rate 1 (100% of notional)"]),
    ("bands not ordered", [("min_volatility: 1\n", "min_volatility: 0\n")],
     [f"{F}:24:21: volatility_bands[1].min_volatility: min_volatility 0 must be above the previous band's 0 (bands ordered by volatility)"]),
    ("band multiplier decreases", [("multiplier: 1.5", "multiplier: 1"),
                                   ("    multiplier: 1\n  - min_volatility: 1", "    multiplier: 1.2\n  - min_volatility: 1")],
     [f"{F}:25:17: volatility_bands[1].multiplier: multiplier 1 is below the previous band's 1.2; a higher volatility must not lower margin"]),
    ("first band above 0", [("min_volatility: 0\n", "min_volatility: 0.2\n")],
     [f"{F}:22:21: volatility_bands[0].min_volatility: the first band must start at 0, got 0.2"]),
    ("threshold out of range", [("margin_call_threshold: 0.8", "margin_call_threshold: 1.2")],
     [f"{F}:7:24: margin_call_threshold: must be less than 1, got 1.2"]),
    ("missing key", [("tick_size: 0.1\n", "")],
     [f"{F}:1:1: missing required key 'tick_size'"]),
    ("unknown key", [("tick_size: 0.1\n", "tick_size: 0.1\nticksize: 0.1\n")],
     [f"{F}:7:1: ticksize: unknown key 'ticksize' (expected one of: contract_size, description, margin_call_threshold, rationale, references, schema, settlement_asset, symbol, tick_size, tiers, volatility_bands)"]),
    ("string for a number", [("cap: 50000", "cap: fifty")],
     [f"{F}:10:10: tiers[0].cap: expected a number, got 'fifty'"]),
    ("fractional leverage", [("max_leverage: 125", "max_leverage: 12.5")],
     [f"{F}:11:19: tiers[0].max_leverage: expected a whole number, got 12.5",
      f"{F}:15:19: tiers[1].max_leverage: max leverage 100 is above the previous tier's 12.5; leverage must not increase from tier to tier"]),
    ("symbol differs from file name", [("symbol: TESTUSDT", "symbol: OTHERUSDT")],
     [f"{F}:2:9: symbol: symbol 'OTHERUSDT' does not match the file name 'TESTUSDT.yaml'"]),
    ("unknown schema version", [("schema: contract/v1", "schema: contract/v9")],
     [f"{F}:1:9: schema: unknown rule-file schema 'contract/v9'; expected one of contract/v1, exchange/v1, policy/v1"]),
    ("YAML 1.1 boolean", [("contract_size: 1", "contract_size: yes")],
     [f"{F}:5:16: contract_size: ambiguous value 'yes': YAML 1.1 reads it as a boolean; write true or false, or quote it for a string"]),
    ("YAML 1.1 octal", [("contract_size: 1", "contract_size: 010")],
     [f"{F}:5:16: contract_size: ambiguous number '010': YAML 1.1 reads a leading zero as octal; remove the leading zero"]),
    ("YAML 1.1 sexagesimal", [("description: Test perpetual", "description: 1:30")],
     [f"{F}:3:14: description: ambiguous value '1:30': YAML 1.1 reads it as a base-60 number; quote it for a string"]),
    ("YAML 1.1 date", [("description: Test perpetual", "description: 2024-01-01")],
     [f"{F}:3:14: description: ambiguous value '2024-01-01': YAML 1.1 reads it as a date; quote it for a string"]),
    ("exponent", [("tick_size: 0.1", "tick_size: 1e-1")],
     [f"{F}:6:12: tick_size: '1e-1' is not allowed: write numbers in plain decimal notation, without an exponent"]),
    ("float tag", [("tick_size: 0.1", "tick_size: !!float 0.1")],
     [f"{F}:6:12: tick_size: tag 'tag:yaml.org,2002:float' is not allowed in rule files"]),
    ("python tag", [("tick_size: 0.1", "tick_size: !!python/object/apply:os.system ['true']")],
     [f"{F}:6:12: tick_size: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed in rule files"]),
    ("custom tag", [("tick_size: 0.1", "tick_size: !decimal 0.1")],
     [f"{F}:6:12: tick_size: tag '!decimal' is not allowed in rule files"]),
    ("anchor and alias", [("    cap: 50000", "    cap: &c 50000"), ("  - floor: 50000", "  - floor: *c")],
     [f"{F}:10:10: tiers[0].cap: anchor '&c' is not allowed in rule files",
      f"{F}:13:12: tiers[1].floor: alias '*c' is not allowed in rule files"]),
    ("duplicate key", [("tick_size: 0.1\n", "tick_size: 0.1\ntick_size: 0.2\n")],
     [f"{F}:7:1: tick_size: duplicate key 'tick_size' (first defined on line 6)"]),
    ("second document", [("rationale: Test table.\n", "rationale: Test table.\n---\nschema: contract/v1\n")],
     [f"{F}:27:1: more than one YAML document in a rule file"]),
    ("syntax error", [("    cap: 50000", "    cap: [50000")],
     [f"{F}:11:17: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"]),
    ("several errors at once",
     [("  - floor: 600000", "  - floor: 600001"), ("maintenance_margin_rate: 0.004", "maintenance_margin_rate: 0.006"),
      ("rationale: Test table.\n", ""), ("tick_size: 0.1", "tick_size: !!float 0.1")],
     [f"{F}:1:1: missing required key 'rationale'",
      f"{F}:6:12: tick_size: tag 'tag:yaml.org,2002:float' is not allowed in rule files",
      f"{F}:16:30: tiers[1].maintenance_margin_rate: maintenance margin rate 0.005 is below the previous tier's 0.006; rates must not decrease from tier to tier",
      f"{F}:17:12: tiers[2].floor: floor 600001 must equal the previous tier's cap 600000 (tiers must be contiguous)"]),
]


@pytest.mark.parametrize("edits, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_contract_is_reported_at_its_location(edits, expected):
    text = CONTRACT
    for old, new in edits:
        assert text.count(old) == 1, f"edit must apply exactly once: {old!r}"
        text = text.replace(old, new)
    assert error_lines((F, text)) == expected


def test_broken_contract_builds_no_document():
    ruleset = ruleset_from_texts((F, CONTRACT.replace("cap: 50000", "cap: fifty")))
    assert ruleset.contracts == {}
    assert ruleset.files[0].document is None


@pytest.mark.parametrize("text, expected", [
    ("", [f"{F}:1:1: file is empty: expected a mapping"]),
    ("# only a comment\n", [f"{F}:1:1: file is empty: expected a mapping"]),
    ("- 1\n- 2\n", [f"{F}:1:1: expected a mapping at the top of the file"]),
    ("symbol: TESTUSDT\n", [f"{F}:1:1: schema: unknown rule-file schema nothing; expected one of contract/v1, exchange/v1, policy/v1"]),
    ("a: b: c\n", [f"{F}:1:5: YAML syntax error: mapping values are not allowed in this context"]),
    ("? [a]\n: 1\n", [f"{F}:1:3: mapping keys must be plain strings"]),
    ("a: \x00\n", [f"{F}:1:4: YAML syntax error: control characters are not allowed"]),
], ids=["empty", "comment only", "top-level list", "no schema key", "syntax", "complex key", "NUL byte"])
def test_unusable_file_is_reported(text, expected):
    assert error_lines((F, text)) == expected
