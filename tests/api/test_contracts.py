"""/api/v1/contracts/: the parameters in force, with a token, an ETag and one error shape."""
import re

import pytest
from rest_framework.test import APIClient

from governance.parameters import services
from governance.parameters.models import ParameterVersion
from governance.positions import services as position_services
from tests.api.conftest import token_client
from tests.parameters.conftest import approve_all, contract_text, edit
from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def consumer(active_rules) -> APIClient:
    return token_client("reader", "consumers")


def test_one_contracts_parameters_with_the_derived_values(consumer):
    response = consumer.get("/api/v1/contracts/BTCUSDT/")
    assert response.status_code == 200
    body = response.json()
    active = ParameterVersion.objects.get(subject__key="BTCUSDT", state="active")
    assert (body["symbol"], body["version"], body["content_hash"]) == ("BTCUSDT", active.number, active.content_hash)
    assert (body["volatility_band"], body["multiplier"], body["margin_call_threshold"]) == (1, "1", "0.8")
    # margin-math.md: cum 0, 50, 950, 11,450 on the first four tiers
    assert body["tiers"][:2] == [
        {"tier": 1, "floor": "0", "cap": "50000", "max_leverage": "125", "initial_margin_rate": "0.008",
         "maintenance_margin_rate": "0.004", "maintenance_amount": "0"},
        {"tier": 2, "floor": "50000", "cap": "600000", "max_leverage": "100", "initial_margin_rate": "0.01",
         "maintenance_margin_rate": "0.005", "maintenance_amount": "50"}]
    assert [t["maintenance_amount"] for t in body["tiers"][2:4]] == ["950", "11450"]


def test_an_unchanged_answer_is_a_304_without_a_body(consumer):
    first = consumer.get("/api/v1/contracts/BTCUSDT/")
    again = consumer.get("/api/v1/contracts/BTCUSDT/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])
    other = consumer.get("/api/v1/contracts/ETHUSDT/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert other.status_code == 200 and other["ETag"] != first["ETag"]
    listing = consumer.get("/api/v1/contracts/")
    assert [c["symbol"] for c in listing.json()][:2] == ["1000PEPEUSDT", "ADAUSDT"] and len(listing.json()) == 14
    assert consumer.get("/api/v1/contracts/", HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 304


def test_the_etag_changes_with_every_input_of_the_answer(consumer, django_capture_on_commit_callbacks):
    """A rollback to earlier content is another version (same content hash, another number), a
    new volatility band another multiplier: each must be a new ETag, and a new body."""
    analyst, alice, bob = (UserFactory(username=name) for name in ("analyst", "alice", "bob"))

    def activated(version, *members):
        with django_capture_on_commit_callbacks(execute=True):
            version = approve_all(services.version_submit(actor=analyst, version=version), *members)
            return services.version_activate(actor=alice, version=version)

    first = consumer.get("/api/v1/contracts/BTCUSDT/")
    v1 = ParameterVersion.objects.get(subject__key="BTCUSDT", state="active")
    activated(services.version_draft_create(actor=analyst, rationale="Tighter.", yaml_text=edit(
        contract_text("BTCUSDT"), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")), alice, bob)
    v3 = activated(services.version_rollback_draft(actor=analyst, version=v1), alice)  # a rollback's quorum: 1
    back = consumer.get("/api/v1/contracts/BTCUSDT/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert (back.status_code, back.json()["version"], back.json()["content_hash"]) == (200, 3, v1.content_hash)
    assert back["ETag"] != first["ETag"] and v3.content_hash == v1.content_hash

    with django_capture_on_commit_callbacks(execute=True):
        position_services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                    "realized_volatility": "0.7"}])
    stressed = consumer.get("/api/v1/contracts/BTCUSDT/", HTTP_IF_NONE_MATCH=back["ETag"])
    assert (stressed.status_code, stressed.json()["volatility_band"], stressed.json()["multiplier"]) == (200, 2, "1.1")
    past = consumer.get("/api/v1/contracts/BTCUSDT/", {"as_of": v3.activated_at.isoformat()})
    assert past.json()["volatility_band"] is None and past["ETag"] not in (stressed["ETag"], back["ETag"])


def test_errors_have_one_shape_and_no_page(consumer, active_rules):
    response = consumer.get("/api/v1/contracts/NOPEUSDT/")
    assert (response.status_code, response.json()) == (
        404, {"code": "not_found", "message": "no active parameters for contract 'NOPEUSDT'", "details": None})
    response = consumer.get("/api/v1/nothing-here/")
    assert (response.status_code, response.json()) == (
        404, {"code": "not_found", "message": "no such resource: /api/v1/nothing-here/", "details": None})
    anonymous = APIClient().get("/api/v1/contracts/BTCUSDT/")
    assert (anonymous.status_code, anonymous.json()) == (
        401, {"code": "not_authenticated", "message": "Authentication credentials were not provided.",
              "details": None})
    forged = APIClient(HTTP_AUTHORIZATION="Token nottherealtoken").get("/api/v1/contracts/BTCUSDT/")
    assert (forged.status_code, forged.json()["code"]) == (401, "authentication_failed")


def test_the_schema_and_its_page_are_served_locally(consumer):
    schema = consumer.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert set(schema.json()["paths"]) >= {"/api/v1/contracts/", "/api/v1/contracts/{symbol}/"}
    page = consumer.get("/api/v1/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert [url for url in assets if "//" in url] == []


def test_the_position_service_may_not_read_parameters(active_rules):
    response = token_client("feeder", "position_service").get("/api/v1/contracts/BTCUSDT/")
    assert (response.status_code, response.json()) == (403, {
        "code": "permission_denied",
        "message": "feeder may not read the API: it needs one of the roles consumers, authors, committee, emergency",
        "details": None})
