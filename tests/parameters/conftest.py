"""People and content for workflow tests: an analyst, three committee members, an emergency responder."""
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from governance.parameters import services
from tests.parameters.factories import UserFactory

RULES = Path(settings.RULES_DIR)


def contract_text(symbol: str = "BTCUSDT") -> str:
    return (RULES / "contracts" / f"{symbol}.yaml").read_text()


def exchange_text() -> str:
    return (RULES / "exchange.yaml").read_text()


# Exchange-wide adjustments for a store that holds only BTCUSDT (rules/exchange.yaml names 14 contracts).
EXCHANGE_BTC_ONLY = """schema: exchange/v1
global_multiplier: 1
default_margin_call_threshold: 0.8
groups:
  - name: majors
    multiplier: 1
    members: [BTCUSDT]
rationale: Calm markets.
"""


@pytest.fixture
def analyst(db):
    return UserFactory(username="analyst", roles=["authors"])


@pytest.fixture
def analyst2(db):
    return UserFactory(username="analyst2", roles=["authors"])


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", roles=["committee"])


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", roles=["committee"])


@pytest.fixture
def carol(db):
    return UserFactory(username="carol", roles=["committee"])


@pytest.fixture
def erin(db):
    return UserFactory(username="erin", roles=["emergency"])


@pytest.fixture
def outsider(db):
    return UserFactory(username="mallory", roles=[])


def approve_all(version, *members):
    for member in members:
        version = services.version_approve(actor=member, version=version, content_hash=version.content_hash)
    return version


@pytest.fixture
def activate(analyst, alice, bob):
    """Take text from draft to active through the real workflow (two approvals, activate now)."""
    def run(text: str, subject_key: str | None = None):
        version = services.version_draft_create(actor=analyst, yaml_text=text, rationale="Initial.",
                                                subject_key=subject_key)
        version = services.version_submit(actor=analyst, version=version)
        version = approve_all(version, alice, bob)
        return services.version_activate(actor=alice, version=version)
    return run


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


D = Decimal
