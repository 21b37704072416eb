"""changes_assess on any shape of content: a draft's may not validate yet."""
from pathlib import Path

import pytest
import yaml

from governance.parameters.assessment import changes_assess
from governance.rulefiles import PolicyRules
from governance.rulefiles.loading import rulefile_read

RULES = Path(__file__).resolve().parents[2] / "rules"
POLICY = PolicyRules.from_data(yaml.safe_load((RULES / "policy.yaml").read_text()))
EXCHANGE = rulefile_read(RULES / "exchange.yaml").parsed.data


@pytest.mark.parametrize("new, changes, notice", [
    ({**EXCHANGE, "groups": None}, 28, 4),  # the group multipliers' notice
    ({**EXCHANGE, "groups": ["majors"]}, 29, 4),
    ({**EXCHANGE, "groups": [{"name": "majors", "members": "BTCUSDT"}]}, 27, 4),
    (["schema", "exchange/v1"], 33, 24),  # not even a mapping: the longest notice
    ("exchange", 33, 24),
], ids=["blank-groups", "groups-of-names", "members-not-a-list", "a-list", "a-scalar"])
def test_malformed_content_is_compared_as_the_largest_change_not_a_crash(new, changes, notice):
    assessment = changes_assess(old=EXCHANGE, new=new, policy=POLICY)
    # every group multiplier is gone (loosening, beyond any step): the larger quorum and a notice
    assert (len(assessment.changes), assessment.required_approvals, assessment.notice_hours,
            assessment.tightening_only) == (changes, 3, notice, False)
