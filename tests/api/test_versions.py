"""Versions of a subject, one version's content, the diff between two, the schedule, the
exchange-wide adjustments."""
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.parameters import services
from governance.parameters.models import ParameterVersion
from tests.api.conftest import token_client
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db
TIGHTER = edit(contract_text(), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")


@pytest.fixture
def reader(active_rules):
    return token_client("reader", "consumers")


@pytest.fixture
def proposal(active_rules, analyst):
    """BTCUSDT v2, submitted: tier 2's maintenance rate 0.005 -> 0.0055."""
    version = services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighten tier 2.")
    return services.version_submit(actor=analyst, version=version)


def test_the_versions_of_a_contract_newest_first_with_their_states(reader, proposal):
    response = reader.get("/api/v1/contracts/BTCUSDT/versions/")
    body = response.json()
    assert (response.status_code, body["count"], body["next"]) == (200, 2, None)
    assert [(v["number"], v["state"], v["author"], v["rationale"]) for v in body["results"]] == [
        (2, "submitted", "analyst", "Tighten tier 2."), (1, "active", "analyst", "Demo bootstrap from the rules directory.")]
    only = reader.get("/api/v1/contracts/BTCUSDT/versions/", {"state": "active"}).json()
    assert [v["number"] for v in only["results"]] == [1]
    paged = reader.get("/api/v1/contracts/BTCUSDT/versions/", {"page_size": 1, "page": 2}).json()
    assert ([v["number"] for v in paged["results"]], paged["previous"] is not None) == ([1], True)
    bad = reader.get("/api/v1/contracts/BTCUSDT/versions/", {"state": "done"})
    assert (bad.status_code, bad.json()["details"]) == (400, {"state": ['"done" is not a valid choice.']})
    missing = reader.get("/api/v1/contracts/NOPE/versions/")
    assert (missing.status_code, missing.json()["message"]) == (404, "no contract 'NOPE'")


def test_one_version_with_its_yaml_parsed_content_and_approvals(reader, proposal, alice):
    response = reader.get("/api/v1/contracts/BTCUSDT/versions/2/")
    body = response.json()
    assert (body["number"], body["state"], body["yaml"], body["content_hash"]) == (
        2, "submitted", TIGHTER, proposal.content_hash)
    assert body["content"]["tiers"][1] == {"floor": "50000", "cap": "600000", "max_leverage": "100",
                                           "maintenance_margin_rate": "0.0055"}
    assert body["approvals"] == []
    services.version_approve(actor=alice, version=proposal, content_hash=proposal.content_hash, comment="ok")
    again = reader.get("/api/v1/contracts/BTCUSDT/versions/2/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 200  # an approval below the quorum changes the answer
    assert [(a["approver"], a["kind"], a["comment"]) for a in again.json()["approvals"]] == [("alice", "approval", "ok")]
    assert reader.get("/api/v1/contracts/BTCUSDT/versions/2/", HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304
    assert reader.get("/api/v1/contracts/BTCUSDT/versions/9/").json()["message"] == "no version 9 of BTCUSDT"


def test_the_diff_is_field_by_field_and_judged_by_the_guardrails(reader, proposal):
    response = reader.get("/api/v1/contracts/BTCUSDT/diff/", {"to_version": 2})
    assert response.json() == {"subject": "BTCUSDT", "from_version": 1, "to_version": 2, "changes": [
        {"path": "tiers[1].maintenance_margin_rate", "old": "0.005", "new": "0.0055", "relative_change": "0.1",
         "parameter": "maintenance_margin_rate", "direction": "tightening", "beyond_step": False}]}
    backwards = reader.get("/api/v1/contracts/BTCUSDT/diff/", {"from_version": 2, "to_version": 1}).json()
    assert [(c["old"], c["new"], c["direction"]) for c in backwards["changes"]] == [("0.0055", "0.005", "loosening")]
    bad = reader.get("/api/v1/contracts/BTCUSDT/diff/", {"to_version": "x"})
    assert (bad.status_code, bad.json()["details"]) == (400, {"to_version": ["A valid integer is required."]})


def test_the_schedule_shows_what_is_coming(reader, proposal, alice, bob):
    empty = reader.get("/api/v1/schedule/")
    assert empty.json() == []
    for member in (alice, bob):
        proposal = services.version_approve(actor=member, version=proposal, content_hash=proposal.content_hash)
    approved = reader.get("/api/v1/schedule/", HTTP_IF_NONE_MATCH=empty["ETag"])
    assert approved.status_code == 200
    assert [(s["subject"], s["version"], s["state"], s["effective_at"]) for s in approved.json()] == [
        ("BTCUSDT", 2, "approved", None)]
    effective = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    services.version_schedule(actor=alice, version=proposal, effective_at=effective)
    scheduled = reader.get("/api/v1/schedule/", HTTP_IF_NONE_MATCH=approved["ETag"])
    assert [(s["state"], s["effective_at"], s["kind"]) for s in scheduled.json()] == [
        ("scheduled", effective.isoformat().replace("+00:00", "Z"), "contract")]


def test_the_exchange_wide_adjustments_in_force(reader):
    response = reader.get("/api/v1/exchange/")
    body = response.json()
    active = ParameterVersion.objects.get(subject__key="exchange", state="active")
    assert (body["version"], body["content_hash"], body["global_multiplier"],
            body["default_margin_call_threshold"]) == (1, active.content_hash, "1", "0.8")
    assert body["groups"][3] == {"name": "high-volatility", "multiplier": "1.1", "members": ["1000PEPEUSDT"]}
    assert reader.get("/api/v1/exchange/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    versions = reader.get("/api/v1/exchange/versions/").json()
    assert [(v["subject"], v["number"], v["state"]) for v in versions["results"]] == [("exchange", 1, "active")]
    assert reader.get("/api/v1/exchange/versions/1/").json()["content"]["global_multiplier"] == "1"
    assert reader.get("/api/v1/contracts/exchange/versions/").status_code == 404
