"""Exchange-wide and policy files, and the checks that span several files of a rule set."""
from decimal import Decimal

import pytest

from governance.rulefiles import ContractGroup, Guardrail
from tests.rulefiles.helpers import CONTRACT_SOURCE, error_lines, ruleset_from_texts
from tests.rulefiles.samples import CONTRACT, EXCHANGE, POLICY

C, E, P = CONTRACT_SOURCE, "rules/exchange.yaml", "rules/policy.yaml"


def test_valid_rule_set_builds_every_document():
    ruleset = ruleset_from_texts((C, CONTRACT), (E, EXCHANGE), (P, POLICY))
    assert ruleset.errors == []
    assert ruleset.exchange.groups == (ContractGroup("majors", "", Decimal("1"), ("TESTUSDT",)),)
    assert ruleset.exchange.group_of("TESTUSDT").name == "majors"
    assert ruleset.policy.approvals.loosening_beyond_step == 3
    assert ruleset.policy.guardrail("exchange", "global_multiplier") == Guardrail(
        "increase", Decimal("1"), Decimal("3"), Decimal("0.25"), "absolute", 4)


CROSS_CASES = [
    ("group member without a contract file",
     [(C, CONTRACT), (E, EXCHANGE.replace("members: [TESTUSDT]", "members: [TESTUSDT, NOPEUSDT]"))],
     [f"{E}:7:25: groups[0].members[1]: unknown contract 'NOPEUSDT': no contract file in this rule set defines it"]),
    ("contract in two groups",
     [(C, CONTRACT), (E, EXCHANGE.replace("rationale", "  - name: other\n    multiplier: 1.2\n    members: [TESTUSDT]\nrationale"))],
     [f"{E}:10:15: groups[1].members[0]: contract 'TESTUSDT' is already a member of group 'majors'; a contract belongs to at most one group"]),
    ("group name used twice",
     [(C, CONTRACT), (E, EXCHANGE.replace("rationale", "  - name: majors\n    multiplier: 1\n    members: [OTHERUSDT]\nrationale")),
      ("rules/contracts/OTHERUSDT.yaml", CONTRACT.replace("TESTUSDT", "OTHERUSDT"))],
     [f"{E}:8:11: groups[1].name: group name 'majors' is already used by groups[0]"]),
    ("global multiplier pushes maintenance to the initial rate",
     [(C, CONTRACT.replace("max_leverage: 75", "max_leverage: 2").replace("maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.45")),
      (E, EXCHANGE.replace("global_multiplier: 1", "global_multiplier: 1.5"))],
     [f"{C}:20:30: tiers[2].maintenance_margin_rate: under the largest multiplier 2.25 (volatility band 1.5 x global 1.5 x group majors 1) the maintenance margin rate 0.45 becomes 1.0125, not below the initial margin rate 1 (100% of notional)"]),
    ("contract values outside the policy bounds",
     [(C, CONTRACT.replace("max_leverage: 125", "max_leverage: 150").replace("maintenance_margin_rate: 0.004", "maintenance_margin_rate: 0.0005")),
      (P, POLICY)],
     [f"{C}:11:19: tiers[0].max_leverage: 150 is outside the policy bounds [1, 125] for max_leverage",
      f"{C}:12:30: tiers[0].maintenance_margin_rate: 0.0005 is outside the policy bounds [0.001, 0.5] for maintenance_margin_rate"]),
    ("exchange value outside the policy bounds",
     [(E, EXCHANGE.replace("global_multiplier: 1", "global_multiplier: 5")), (P, POLICY)],
     [f"{E}:2:20: global_multiplier: 5 is outside the policy bounds [1, 3] for global_multiplier"]),
    ("policy guardrail inverted and quorum too small",
     [(P, POLICY.replace("min: 1, max: 3", "min: 4, max: 3").replace("loosening_beyond_step: 3", "loosening_beyond_step: 1"))],
     [f"{P}:9:26: approvals.loosening_beyond_step: 1 must be at least the standard quorum 2",
      f"{P}:19:52: guardrails.exchange.global_multiplier.min: min 4 must not exceed max 3"]),
    ("policy asking for more than one emergency approval",
     [(P, POLICY.replace("emergency: 1", "emergency: 2"))],
     [f"{P}:11:14: approvals.emergency: 2 is not supported: an emergency activation is one responder's approval, "
      "ratified afterwards by approvals.ratification"]),
    ("policy guardrail with an unknown parameter",
     [(P, POLICY.replace("    max_leverage:", "    leverage:"))],
     [f"{P}:17:5: guardrails.contract.leverage: unknown key 'leverage' (expected one of: maintenance_margin_rate, margin_call_threshold, max_leverage, notional_cap, volatility_multiplier, volatility_threshold)"]),
    ("the same symbol in two files",
     [(C, CONTRACT), ("rules/contracts/copy.yaml", CONTRACT)],
     [f"rules/contracts/copy.yaml:2:9: symbol: symbol 'TESTUSDT' does not match the file name 'copy.yaml'",
      f"rules/contracts/copy.yaml:2:9: symbol: symbol 'TESTUSDT' is also defined in {C}"]),
    ("two exchange files",
     [("a/exchange.yaml", EXCHANGE), ("b/exchange.yaml", EXCHANGE)],
     ["b/exchange.yaml:1:1: schema: a rule set has one exchange/v1 file; a/exchange.yaml is another"]),
    ("exchange file missing its groups",
     [(E, EXCHANGE.replace("groups:\n  - name: majors\n    multiplier: 1\n    members: [TESTUSDT]\n", ""))],
     [f"{E}:1:1: missing required key 'groups'"]),
]


@pytest.mark.parametrize("files, expected", [c[1:] for c in CROSS_CASES], ids=[c[0] for c in CROSS_CASES])
def test_rule_set_error_is_reported_at_its_location(files, expected):
    assert error_lines(*files) == expected


def test_members_are_not_checked_without_contract_files():
    assert error_lines((E, EXCHANGE.replace("[TESTUSDT]", "[NOPEUSDT]"))) == []
