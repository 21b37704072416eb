"""A book to run the real server against: fixtures for the live-server API tests.

`api_book`: the rules/ parameters active through the workflow (14 contracts and the exchange-wide
adjustments), a small seeded book of positions with market data, and versions in every state
the API shows, so that every endpoint has something to answer:

- BTCUSDT v2 (tier 2 maintenance 0.005 -> 0.0055) activated, so v1 is superseded, the book was
  re-margined by a rollout and margin events were written;
- ETHUSDT v2 approved and scheduled for tomorrow, SOLUSDT v2 approved (both on the schedule);
- XRPUSDT v2 submitted, DOGEUSDT v2 a draft, ADAUSDT v2 rejected, LINKUSDT v2 withdrawn;
- the exchange-wide v2 (global multiplier 1 -> 1.1) submitted.

Everything goes through the services, committed (these tests run the server in a thread: it
sees committed rows only).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken

from governance.parameters import services
from governance.parameters.models import ParameterVersion
from tests.parameters.conftest import approve_all, contract_text, edit, exchange_text
from tests.parameters.factories import UserFactory

ALL_ROLES = ["consumers", "authors", "committee", "emergency", "position_service"]


def _rationale_changed(symbol: str) -> str:
    """The contract's rule file with another rationale: a valid, neutral change."""
    return edit(contract_text(symbol), "rationale: >-\n", "rationale: >-\n  Reviewed again.\n")


@dataclass(frozen=True)
class Book:
    analyst: object
    members: tuple
    btc_v2: ParameterVersion
    scheduled: ParameterVersion


@pytest.fixture
def api_book(active_rules) -> Book:
    """See the module's docstring. Needs a transactional database (live_server gives one)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    analyst, alice, bob = (User.objects.get(username=name) for name in ("analyst", "alice", "bob"))
    call_command("seed_positions", "--count", "150", "--seed", "11", stdout=io.StringIO(), stderr=io.StringIO())

    def propose(text: str, key: str | None = None) -> ParameterVersion:
        version = services.version_draft_create(actor=analyst, yaml_text=text, rationale="A change.",
                                                subject_key=key)
        return services.version_submit(actor=analyst, version=version)

    tighter = edit(contract_text("BTCUSDT"), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
    btc_v2 = services.version_activate(actor=alice, version=approve_all(propose(tighter), alice, bob))
    scheduled = services.version_schedule(actor=alice, version=approve_all(propose(_rationale_changed("ETHUSDT")),
                                                                             alice, bob),
                                          effective_at=timezone.now() + timedelta(days=1))
    approve_all(propose(_rationale_changed("SOLUSDT")), alice, bob)
    propose(_rationale_changed("XRPUSDT"))
    services.version_draft_create(actor=analyst, yaml_text=_rationale_changed("DOGEUSDT"), rationale="Draft.")
    services.version_reject(actor=alice, version=propose(_rationale_changed("ADAUSDT")), reason="Not now.")
    services.version_withdraw(actor=analyst, version=propose(_rationale_changed("LINKUSDT")), reason="Later.")
    propose(edit(exchange_text(), "global_multiplier: 1\n", "global_multiplier: 1.1\n"), "exchange")
    return Book(analyst=analyst, members=(alice, bob), btc_v2=btc_v2, scheduled=scheduled)


@pytest.fixture
def api_superuser(db):
    """One user in every role of the policy, so that every operation is allowed to it."""
    return UserFactory(username="everything", roles=ALL_ROLES)


def token_for(user) -> str:
    """A new knox token (each call its own: a logout revokes one, logout-all all of the user's)."""
    _, token = AuthToken.objects.create(user)
    return token


def known_values() -> tuple[dict, dict]:
    """Schemathesis dictionaries of values the database holds, and where to use them: random
    symbols, numbers and ids would almost always answer 404, so about half the examples take an
    existing contract, version, position or rollout instead (the other half stays random).

    Returns (dictionaries, parameters) in the shape of schemathesis' configuration."""
    from governance.parameters.models import Subject
    from governance.positions.models import Account, Position, Rollout

    symbols = sorted(Subject.objects.filter(kind=Subject.Kind.CONTRACT).values_list("key", flat=True))
    versions = ParameterVersion.objects.order_by("pk")
    values = {
        "symbols": symbols,
        "numbers": sorted(set(versions.values_list("number", flat=True))),
        "version_ids": list(versions.values_list("pk", flat=True)),
        "content_hashes": sorted(set(versions.values_list("content_hash", flat=True))),
        "position_ids": list(Position.objects.order_by("pk").values_list("pk", flat=True)[:20]),
        "rollout_ids": list(Rollout.objects.order_by("pk").values_list("pk", flat=True)),
        "accounts": list(Account.objects.order_by("pk").values_list("code", flat=True)[:10]),
    }
    bindings = {
        "path.symbol": "symbols", "query.symbol": "symbols", "body.symbol": "symbols", "body.rows[*].symbol": "symbols",
        "path.number": "numbers", "query.to_version": "numbers", "query.from_version": "numbers",
        "path.pk": "version_ids", "body.content_hash": "content_hashes",
        "path.position_id": "position_ids", "path.rollout_id": "rollout_ids",
        "query.account": "accounts", "body.account": "accounts", "body.rows[*].account": "accounts",
    }
    dictionaries = {name: {"values": entries} for name, entries in values.items() if entries}
    parameters = {key: {"dictionary": name, "probability": 0.5} for key, name in bindings.items()
                  if name in dictionaries}
    return dictionaries, parameters
