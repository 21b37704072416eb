"""/api/v1/contracts/: the parameters in force, with a token, an ETag and one error shape."""
import re

import pytest
from rest_framework.test import APIClient

from governance.parameters.models import ParameterVersion
from tests.api.conftest import token_client

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
