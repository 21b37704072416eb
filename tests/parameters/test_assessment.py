"""changes_assess on any shape of content: a draft's may not validate yet."""
from decimal import Decimal
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


def test_a_step_is_measured_exactly_beyond_the_28th_digit():
    btc = rulefile_read(RULES / "contracts" / "BTCUSDT.yaml").parsed.data
    bands = [dict(b) for b in btc["volatility_bands"]]
    assert bands[3]["multiplier"] == Decimal("1.5")
    bands[3]["multiplier"] = Decimal("1.2499999999999999999999999999999")  # down 0.25 and 1e-31
    (change,) = changes_assess(old=btc, new={**btc, "volatility_bands": bands}, policy=POLICY).changes
    assert (change.step, change.max_step, change.beyond_step) == (
        Decimal("0.2500000000000000000000000000001"), Decimal("0.25"), True)
