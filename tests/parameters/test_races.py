"""Concurrent approvals and activations from separate PostgreSQL connections."""
import threading

import pytest
from django.db import connection, connections

from governance.errors import DomainError
from governance.parameters import services
from governance.parameters.models import Approval, AuditEntry, ParameterVersion
from governance.parameters.audit import audit_verify
from tests.parameters.conftest import EXCHANGE_BTC_ONLY, approve_all, contract_text, edit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BTC = contract_text()


def race(*calls):
    """Run each call in its own thread (own connection), released together; return results or errors."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except DomainError as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_approvals_at_once_are_both_counted(analyst, alice, bob):
    version = services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, yaml_text=BTC, rationale="r"))
    results = race(lambda: services.version_approve(actor=alice, version=version, content_hash=version.content_hash),
                   lambda: services.version_approve(actor=bob, version=version, content_hash=version.content_hash))
    assert all(isinstance(r, ParameterVersion) for r in results), results
    version.refresh_from_db()
    assert version.state == "approved"
    assert Approval.objects.filter(version=version).count() == 2
    assert AuditEntry.objects.filter(action="approved").count() == 1
    assert audit_verify()[1] == []


def test_the_same_approval_twice_at_once_counts_once(analyst, alice):
    version = services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, yaml_text=BTC, rationale="r"))
    results = race(*[lambda: services.version_approve(actor=alice, version=version,
                                                      content_hash=version.content_hash)] * 2)
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "ParameterVersion"]
    assert Approval.objects.filter(version=version).count() == 1


def test_two_activations_at_once_leave_exactly_one_active(activate, analyst, analyst2, alice, bob, carol):
    activate(BTC)
    tighter = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.007")
    other = edit(BTC, "maintenance_margin_rate: 0.01\n", "maintenance_margin_rate: 0.011\n")
    a = approve_all(services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, yaml_text=tighter, rationale="r")), alice, bob)
    b = approve_all(services.version_submit(actor=analyst2, version=services.version_draft_create(
        actor=analyst2, yaml_text=other, rationale="r")), bob, carol)
    results = race(lambda: services.version_activate(actor=alice, version=a),
                   lambda: services.version_activate(actor=carol, version=b),
                   lambda: services.version_activate(actor=bob, version=a))
    winners = [r for r in results if isinstance(r, ParameterVersion)]
    assert len(winners) == 1, results
    assert sorted(type(r).__name__ for r in results if r not in winners) in (
        ["InvalidTransition", "StaleVersion"], ["StaleVersion", "StaleVersion"])
    assert list(ParameterVersion.objects.filter(state="active").values_list("pk", flat=True)) == [winners[0].pk]
    assert audit_verify()[1] == []
    assert connection.vendor == "postgresql"


def test_an_exchange_wide_and_a_contract_activation_at_once_are_checked_against_each_other(
        activate, analyst, analyst2, alice, bob, carol):
    activate(BTC)
    activate(EXCHANGE_BTC_ONLY, subject_key="exchange")
    # each valid with what is in force; together the largest band is 1.75 x 1.2 = 2.1: tier 12 breaks
    wider = approve_all(services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, rationale="r", yaml_text=edit(BTC, "  - min_volatility: 1.5\n    multiplier: 1.5\n",
                                                     "  - min_volatility: 1.5\n    multiplier: 1.75\n"))), alice, bob)
    higher = approve_all(services.version_submit(actor=analyst2, version=services.version_draft_create(
        actor=analyst2, rationale="r", subject_key="exchange",
        yaml_text=edit(EXCHANGE_BTC_ONLY, "global_multiplier: 1\n", "global_multiplier: 1.2\n"))), bob, carol)
    results = race(lambda: services.version_activate(actor=alice, version=wider),
                   lambda: services.version_activate(actor=carol, version=higher))
    winners = [r for r in results if isinstance(r, ParameterVersion)]
    assert len(winners) == 1, results
    (loser,) = [r for r in results if r not in winners]
    assert (type(loser).__name__, loser.message.split(":")[0]) == (
        "ValidationFailed", f"{(higher if winners[0].pk == wider.pk else wider)} does not validate")
    other = "exchange" if winners[0].subject.key == "BTCUSDT" else "BTCUSDT"
    assert sorted(ParameterVersion.objects.filter(state="active").values_list("subject__key", "number")) == sorted(
        [(winners[0].subject.key, winners[0].number), (other, 1)])
