"""Everything shipped in rules/ validates, and is the real-looking data the issue asks for."""
from decimal import Decimal

from django.conf import settings

from governance.rulefiles import ruleset_load


def test_every_shipped_rule_file_validates():
    ruleset = ruleset_load([settings.RULES_DIR])
    assert [str(e) for e in ruleset.errors] == []
    assert len(ruleset.contracts) >= 12
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= set(ruleset.contracts)
    assert ruleset.exchange is not None and ruleset.policy is not None


def test_btcusdt_follows_the_published_table():
    # Source: BTCUSDT leverage brackets of a large exchange, Oct 2024 (shared/reference/margin-math.md).
    btc = ruleset_load([settings.RULES_DIR / "contracts" / "BTCUSDT.yaml"]).contracts["BTCUSDT"]
    assert [(t.floor, t.cap, t.max_leverage, t.maintenance_margin_rate) for t in btc.tiers[:3]] == [
        (Decimal("0"), Decimal("50000"), Decimal("125"), Decimal("0.004")),
        (Decimal("50000"), Decimal("600000"), Decimal("100"), Decimal("0.005")),
        (Decimal("600000"), Decimal("3000000"), Decimal("75"), Decimal("0.0065")),
    ]
    assert len(btc.tiers) == 12
    assert (btc.tiers[-1].cap, btc.tiers[-1].max_leverage, btc.tiers[-1].maintenance_margin_rate) == (
        Decimal("1800000000"), Decimal("1"), Decimal("0.5"))


def test_every_contract_belongs_to_one_exchange_group():
    ruleset = ruleset_load([settings.RULES_DIR])
    members = [m for g in ruleset.exchange.groups for m in g.members]
    assert sorted(members) == sorted(ruleset.contracts)
