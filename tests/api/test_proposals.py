"""/api/v1/proposals/: drafting, reviewing and scheduling through the same services as the admin."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.test import APIClient

from governance.parameters import services
from governance.parameters.audit import audit_verify
from governance.parameters.models import Approval, AuditEntry, ParameterVersion, Subject
from tests.api.conftest import token_client
from tests.parameters.conftest import approve_all, contract_text, edit

pytestmark = pytest.mark.django_db
URL = "/api/v1/proposals/"
BTC = contract_text()
TIGHTER = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.007")  # tier 3 up
TIGHTER_STILL = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.0075")
READER_ROLES = "consumers, authors, committee, emergency"


def when(value) -> str | None:
    return DateTimeField().to_representation(value) if value else None


def propose(client: APIClient, text: str = TIGHTER, **extra):
    return client.post(URL, {"yaml": text, "rationale": "Tighten tier 3.", **extra}, format="json")


def act(client: APIClient, version_id: int, action: str, body: dict | None = None):
    return client.post(f"{URL}{version_id}/{action}/", body or {}, format="json")


def error(code: str, message: str, details=None) -> dict:
    return {"code": code, "message": message, "details": details}


def counts() -> tuple[int, int, int, int]:
    return (Subject.objects.count(), ParameterVersion.objects.count(), AuditEntry.objects.count(),
            Approval.objects.count())


def user(name: str):
    return get_user_model().objects.get(username=name)


@pytest.fixture
def analyst(active_rules) -> APIClient:
    return token_client("analyst", "authors")


@pytest.fixture
def alice(active_rules) -> APIClient:
    return token_client("alice", "committee")


@pytest.fixture
def bob(active_rules) -> APIClient:
    return token_client("bob", "committee")


# --- the workflow -----------------------------------------------------------------------------------

def test_draft_submit_two_approvals_and_schedule_as_the_services_record_them(analyst, alice, bob):
    created = propose(analyst)
    assert created.status_code == 201
    version = ParameterVersion.objects.get(subject__key="BTCUSDT", number=2)
    assert created["Location"] == f"{URL}{version.pk}/"
    assert created.json() == {
        "id": version.pk, "subject": "BTCUSDT", "number": 2, "state": "draft", "content_hash": version.content_hash,
        "author": "analyst", "rationale": "Tighten tier 3.", "based_on": 1, "emergency": False, "reason": "",
        "created_at": when(version.created_at), "updated_at": when(version.updated_at), "submitted_at": None,
        "approved_at": None, "effective_at": None, "activated_at": None, "superseded_at": None, "closed_at": None,
        "yaml": TIGHTER, "approvals": [], "errors": []}

    submitted = act(analyst, version.pk, "submit")
    assert (submitted.status_code, submitted.json()["state"]) == (200, "submitted")
    first = act(alice, version.pk, "approve", {"content_hash": version.content_hash, "comment": "Fine."})
    assert (first.status_code, first.json()["state"], [a["approver"] for a in first.json()["approvals"]]) == (
        200, "submitted", ["alice"])
    second = act(bob, version.pk, "approve", {"content_hash": version.content_hash})
    assert (second.status_code, second.json()["state"]) == (200, "approved")
    effective_at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    scheduled = act(alice, version.pk, "schedule", {"effective_at": effective_at.isoformat()})
    assert scheduled.status_code == 200

    version.refresh_from_db()
    approvals = list(version.approvals.order_by("pk"))
    assert scheduled.json() == analyst.get(f"{URL}{version.pk}/").json() == {
        **created.json(), "state": "scheduled", "updated_at": when(version.updated_at),
        "submitted_at": when(version.submitted_at), "approved_at": when(version.approved_at),
        "effective_at": when(effective_at),
        "approvals": [{"approver": a.approver.username, "kind": "approval", "content_hash": version.content_hash,
                       "comment": a.comment, "created_at": when(a.created_at), "revoked_at": None}
                      for a in approvals]}
    assert [(a.approver.username, a.comment) for a in approvals] == [("alice", "Fine."), ("bob", "")]
    assert [(e.action, e.actor_name, e.from_state, e.to_state, e.content_hash)
            for e in AuditEntry.objects.filter(version=version).order_by("sequence")] == [
        ("draft_created", "analyst", "", "draft", version.content_hash),
        ("submitted", "analyst", "draft", "submitted", version.content_hash),
        ("approval_given", "alice", "submitted", "submitted", version.content_hash),
        ("approval_given", "bob", "submitted", "submitted", version.content_hash),
        ("approved", "bob", "submitted", "approved", version.content_hash),
        ("scheduled", "alice", "approved", "scheduled", version.content_hash)]
    assert audit_verify()[1] == []


def test_the_author_may_not_approve_their_own_proposal(active_rules):
    both = token_client("both", "authors", "committee")
    version_id = propose(both).json()["id"]
    content_hash = act(both, version_id, "submit").json()["content_hash"]
    response = act(both, version_id, "approve", {"content_hash": content_hash})
    assert (response.status_code, response.json()) == (
        403, error("permission_denied", "both wrote BTCUSDT v2 and may not approve it (four eyes)"))
    assert Approval.objects.filter(version_id=version_id).count() == 0


def test_an_approval_of_other_content_than_the_current_is_refused(analyst, alice):
    version_id = propose(analyst).json()["id"]
    current = act(analyst, version_id, "submit").json()["content_hash"]
    response = act(alice, version_id, "approve", {"content_hash": "0" * 64})
    assert (response.status_code, response.json()) == (422, error(
        "policy_violation", f"the content of BTCUSDT v2 is not the content you reviewed "
                            f"(hash 000000000000..., now {current[:12]}...)"))
    assert Approval.objects.filter(version_id=version_id).count() == 0


def test_reject_with_a_reason_and_withdraw(analyst, alice):
    submitted_id = propose(analyst).json()["id"]
    act(analyst, submitted_id, "submit")
    response = act(alice, submitted_id, "reject", {})
    assert (response.status_code, response.json()) == (
        400, error("invalid_request", "the request is invalid", {"reason": ["This field is required."]}))
    response = act(alice, submitted_id, "reject", {"reason": "  Too steep for tier 3.  "})
    assert (response.status_code, response.json()["state"], response.json()["reason"]) == (
        200, "rejected", "Too steep for tier 3.")

    draft_id = propose(analyst, TIGHTER_STILL).json()["id"]
    response = act(alice, draft_id, "withdraw", {"reason": "Not mine."})
    assert (response.status_code, response.json()) == (
        403, error("permission_denied", "only the author (analyst) may withdraw BTCUSDT v3"))
    response = act(analyst, draft_id, "withdraw", {"reason": "Superseded by the review."})
    assert (response.status_code, response.json()["state"], response.json()["reason"]) == (
        200, "withdrawn", "Superseded by the review.")
    again = act(analyst, draft_id, "withdraw")
    assert (again.status_code, again.json()) == (409, error(
        "invalid_transition",
        "cannot withdraw BTCUSDT v3: it is withdrawn (only from draft, submitted, approved, scheduled)"))
    assert [(e.action, e.actor_name, e.reason) for e in AuditEntry.objects.filter(
        version_id__in=[submitted_id, draft_id], action__in=["rejected", "withdrawn"]).order_by("sequence")] == [
        ("rejected", "alice", "Too steep for tier 3."), ("withdrawn", "analyst", "Superseded by the review.")]


def test_scheduling_before_the_notice_ends_is_refused(analyst, alice, bob):
    looser = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.006")  # notice 24 h
    version_id = propose(analyst, looser).json()["id"]
    content_hash = act(analyst, version_id, "submit").json()["content_hash"]
    act(alice, version_id, "approve", {"content_hash": content_hash})
    approved_at = ParameterVersion.objects.get(pk=act(bob, version_id, "approve", {
        "content_hash": content_hash}).json()["id"]).approved_at
    response = act(alice, version_id, "schedule", {"effective_at": timezone.now().isoformat()})
    assert (response.status_code, response.json()) == (422, error(
        "policy_violation", f"BTCUSDT v2 may take effect at {(approved_at + timedelta(hours=24)).isoformat()} "
                            f"at the earliest (notice of 24 h after approval)"))


# --- drafts that do not validate ----------------------------------------------------------------------

def test_a_draft_with_a_schema_error_is_refused_at_its_line_and_nothing_is_written(analyst):
    before = counts()
    response = propose(analyst, edit(BTC, "cap: 50000\n", "cap: fifty\n"))
    text = "rules/contracts/BTCUSDT.yaml:11:10: tiers[0].cap: expected a number, got 'fifty'"
    assert (response.status_code, response.json()) == (400, error(
        "validation_failed", f"the draft for BTCUSDT does not validate: 1 error(s); first: {text}",
        [{"line": 11, "column": 10, "path": "tiers[0].cap", "message": "expected a number, got 'fifty'",
          "text": text}]))
    assert counts() == before


def test_broken_yaml_is_refused_at_its_line_and_column_and_nothing_is_written(analyst):
    before = counts()
    message = "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"
    broken = edit(BTC, "cap: 50000\n", "cap: [50000\n")
    response = propose(analyst, broken)
    assert (response.status_code, response.json()) == (400, error(
        "validation_failed", f"the draft does not validate: 1 error(s); first: draft:12:17: {message}",
        [{"line": 12, "column": 17, "path": "", "message": message, "text": f"draft:12:17: {message}"}]))
    # named, a new contract is not created for text that does not validate
    response = propose(analyst, broken.replace("BTCUSDT", "NEWUSDT"), subject="NEWUSDT")
    assert (response.status_code, response.json()["details"]) == (400, [
        {"line": 12, "column": 17, "path": "", "message": message,
         "text": f"rules/contracts/NEWUSDT.yaml:12:17: {message}"}])
    assert counts() == before and not Subject.objects.filter(key="NEWUSDT").exists()


def test_a_draft_kept_invalid_by_the_admin_shows_its_errors(analyst):
    version = services.version_draft_create(actor=user("analyst"), yaml_text=edit(BTC, "cap: 50000\n", "cap: fifty\n"),
                                            rationale="Work in progress.")
    body = analyst.get(f"{URL}{version.pk}/").json()
    assert body["errors"] == [{"line": 11, "column": 10, "path": "tiers[0].cap",
                               "message": "expected a number, got 'fifty'",
                               "text": "rules/contracts/BTCUSDT.yaml:11:10: tiers[0].cap: expected a number, got 'fifty'"}]
    response = act(analyst, version.pk, "submit")
    assert (response.status_code, response.json()["code"]) == (400, "validation_failed")


# --- bad requests: always 400/404 in the one shape, never a 500 ------------------------------------------

@pytest.mark.parametrize(("body", "details"), [
    ({"yaml": ["not", "text"], "colour": "red"},
     {"yaml": ["Not a valid string."], "rationale": ["This field is required."], "colour": ["unknown field"]}),
    ({"yaml": BTC, "rationale": "Why.", "subject": "X" * 41},
     {"subject": ["Ensure this field has no more than 40 characters."]}),
    ({"yaml": "symbol: A\x00", "rationale": "Why."}, {"yaml": ["Null characters are not allowed."]}),
    ({"yaml": BTC, "rationale": "   "}, {"rationale": ["This field may not be blank."]}),
    (["yaml"], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
])
def test_a_bad_create_body_is_refused_field_by_field(analyst, body, details):
    response = analyst.post(URL, body, format="json")
    assert (response.status_code, response.json()) == (400, error("invalid_request", "the request is invalid", details))


@pytest.mark.parametrize(("action", "body", "details"), [
    ("submit", {"now": "2020-01-01T00:00:00Z"}, {"now": ["unknown field"]}),
    ("approve", {"content_hash": True, "comments": "typo"},
     {"content_hash": ["Not a valid string."], "comments": ["unknown field"]}),
    ("approve", {}, {"content_hash": ["This field is required."]}),
    ("schedule", {"effective_at": "tomorrow"}, {"effective_at": [
        "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}),
    ("schedule", {"effective_at": "9999-12-31T23:59:59-12:00"}, {"effective_at": [
        "Datetime value out of range."]}),
    ("withdraw", {"reason": {"why": "x"}}, {"reason": ["Not a valid string."]}),
])
def test_a_bad_transition_body_is_refused_before_anything_happens(analyst, action, body, details):
    version_id = propose(analyst).json()["id"]
    before = counts()
    response = act(analyst, version_id, action, body)
    assert (response.status_code, response.json()) == (400, error("invalid_request", "the request is invalid", details))
    assert counts() == before


def test_malformed_json_and_unknown_proposals(analyst):
    response = analyst.post(URL, b'{"yaml": ', content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    assert response.json()["message"].startswith("JSON parse error - ")
    for missing in ("999999", "99999999999999999999"):
        response = analyst.get(f"{URL}{missing}/")
        assert (response.status_code, response.json()) == (404, error("not_found", f"no parameter version {missing}"))
    response = act(analyst, 999999, "submit")
    assert (response.status_code, response.json()) == (404, error("not_found", "no parameter version 999999"))
    response = analyst.get(f"{URL}abc/")
    assert (response.status_code, response.json()) == (404, error("not_found", f"no such resource: {URL}abc/"))


# --- who may do what ----------------------------------------------------------------------------------

@pytest.fixture
def versions(active_rules) -> dict:
    """BTCUSDT v2 draft, v3 submitted, v4 approved: each transition has a version it can start from."""
    analyst = user("analyst")
    draft = services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Draft.")
    submitted = services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, yaml_text=TIGHTER_STILL, rationale="Submitted."))
    approved = services.version_submit(actor=analyst, version=services.version_draft_create(
        actor=analyst, yaml_text=edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.008"),
        rationale="Approved."))
    approved = approve_all(approved, user("alice"), user("bob"))
    return {"draft": draft, "submitted": submitted, "approved": approved}


def request(client: APIClient, endpoint: str, versions: dict):
    in_an_hour = (timezone.now() + timedelta(hours=1)).isoformat()
    method, target, action, body = {
        "list": ("get", None, "", None),
        "detail": ("get", "draft", "", None),
        "create": ("post", None, "", {"yaml": TIGHTER, "rationale": "New."}),
        "submit": ("post", "draft", "submit/", {}),
        "approve": ("post", "submitted", "approve/", {"content_hash": versions["submitted"].content_hash}),
        "reject": ("post", "submitted", "reject/", {"reason": "No."}),
        "withdraw": ("post", "draft", "withdraw/", {"reason": "Done."}),
        "schedule": ("post", "approved", "schedule/", {"effective_at": in_an_hour}),
    }[endpoint]
    url = URL + (f"{versions[target].pk}/{action}" if target else "")
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


ENDPOINTS = ["list", "detail", "create", "submit", "approve", "reject", "withdraw", "schedule"]
OK = {"list": 200, "detail": 200, "create": 201, "submit": 200, "approve": 200, "reject": 200, "withdraw": 200,
      "schedule": 200}


def needs(who: str, role: str, doing: str) -> str:
    group = {"authors": "analysts", "committee": "risk-committee"}[role]
    return f"{who} may not {doing}: it needs the {role} role (group '{group}')"


MATRIX = {
    "consumer": {"create": needs("reader", "authors", "draft a parameter change"),
                 "submit": needs("reader", "authors", "submit"),
                 "approve": needs("reader", "committee", "approve BTCUSDT v3"),
                 "reject": needs("reader", "committee", "reject BTCUSDT v3"),
                 "withdraw": "only the author (analyst) may withdraw BTCUSDT v2",
                 "schedule": needs("reader", "committee", "schedule BTCUSDT v4")},
    "author": {"approve": needs("analyst", "committee", "approve BTCUSDT v3"),
               "reject": needs("analyst", "committee", "reject BTCUSDT v3"),
               "schedule": needs("analyst", "committee", "schedule BTCUSDT v4")},
    "committee": {"create": needs("alice", "authors", "draft a parameter change"),
                  "submit": needs("alice", "authors", "submit"),
                  "withdraw": "only the author (analyst) may withdraw BTCUSDT v2"},
}
CLIENTS = {"consumer": ("reader", "consumers"), "author": ("analyst", "authors"), "committee": ("alice", "committee")}


def outcomes(client: APIClient, versions: dict) -> dict[str, tuple[int, dict]]:
    """Each endpoint's answer, each on the same versions: what one request writes is rolled back."""
    answers = {}
    for endpoint in ENDPOINTS:
        with transaction.atomic():
            response = request(client, endpoint, versions)
            answers[endpoint] = response.status_code, response.json()
            transaction.set_rollback(True)
    return answers


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_the_services_decide_who_may_do_what(versions, who):
    before = counts()
    answers = outcomes(token_client(*CLIENTS[who]), versions)
    refusals = MATRIX[who]
    assert {e: (status, body) if e in refusals else status for e, (status, body) in answers.items()} == {
        e: (403, error("permission_denied", refusals[e])) if e in refusals else OK[e] for e in ENDPOINTS}
    assert counts() == before


def test_the_position_service_is_refused_everywhere(versions):
    refusal = error("permission_denied", f"feeder may not read the API: it needs one of the roles {READER_ROLES}")
    assert outcomes(token_client("feeder", "position_service"), versions) == {e: (403, refusal) for e in ENDPOINTS}


def test_anonymous_requests_are_refused_everywhere(versions):
    refusal = error("not_authenticated", "Authentication credentials were not provided.")
    assert outcomes(APIClient(), versions) == {e: (401, refusal) for e in ENDPOINTS}


# --- listing ------------------------------------------------------------------------------------------

def test_pages_newest_first_and_filters_by_state_and_subject(versions, analyst):
    everything = ParameterVersion.objects.order_by("-pk")
    response = analyst.get(URL, {"page_size": 5, "page": 2})
    body = response.json()
    assert (response.status_code, body["count"], body["previous"]) == (200, everything.count(),
                                                                       "http://testserver/api/v1/proposals/?page_size=5")
    assert body["next"] == "http://testserver/api/v1/proposals/?page=3&page_size=5"
    assert [p["id"] for p in body["results"]] == [v.pk for v in everything[5:10]]
    assert set(body["results"][0]) == {
        "id", "subject", "number", "state", "content_hash", "author", "rationale", "based_on", "emergency", "reason",
        "created_at", "updated_at", "submitted_at", "approved_at", "effective_at", "activated_at", "superseded_at",
        "closed_at"}

    pending = analyst.get(URL, {"subject": "BTCUSDT", "state": "submitted"}).json()
    assert [(p["subject"], p["number"], p["state"]) for p in pending["results"]] == [("BTCUSDT", 3, "submitted")]


def test_a_page_or_page_size_that_is_not_a_whole_number_from_1_is_a_located_400(versions, analyst):
    for page in ("abc", "0", "-1", "\u00b2"):
        response = analyst.get(URL, {"page": page})
        assert (response.status_code, response.json()) == (
            400, error("invalid_request", "the request is invalid", {"page": ["must be an integer from 1"]}))
    for size in ("0", "1001", "ten"):
        response = analyst.get(URL, {"page_size": size})
        assert (response.status_code, response.json()["details"]) == (
            400, {"page_size": ["must be an integer from 1 to 1000"]})
    btc = analyst.get(URL, {"subject": "BTCUSDT"}).json()
    assert [(p["number"], p["state"]) for p in btc["results"]] == [
        (4, "approved"), (3, "submitted"), (2, "draft"), (1, "active")]
    assert analyst.get(URL, {"subject": "NOPEUSDT"}).json()["count"] == 0

    response = analyst.get(URL, {"state": "bogus"})
    assert (response.status_code, response.json()) == (400, error("invalid_request", "the request is invalid", {
        "state": ["Select a valid choice. bogus is not one of the available choices."]}))
    response = analyst.get(URL, {"page": 99})
    assert (response.status_code, response.json()) == (
        404, error("not_found", "no page 99: That page contains no results"))


def test_consumers_read_proposals(versions):
    consumer = token_client("reader", "consumers")
    response = consumer.get(f"{URL}{versions['submitted'].pk}/")
    assert (response.status_code, response.json()["state"], response.json()["yaml"]) == (200, "submitted",
                                                                                        TIGHTER_STILL)
