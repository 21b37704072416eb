"""Requests Django itself refuses before any view (too large, too many fields, a foreign Host),
and bodies or paths the database or the parser could not take: JSON answers, never a page."""
import json

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import token_client


@pytest.fixture
def consumer(active_rules) -> APIClient:
    return token_client("reader", "consumers")


def body(code: str, message: str, details=None) -> dict:
    return {"code": code, "message": message, "details": details}


def test_a_body_over_the_limit_is_a_json_413(active_rules, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    feeder = token_client("feeder", "position_service")
    response = feeder.post("/api/v1/market-data/upsert/", {"rows": [{"symbol": "BTCUSDT", "mark_price": "1" * 1000}]},
                           format="json")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        413, "application/json", body("too_large", "the request body is larger than 1000 bytes"))


def test_the_body_limit_leaves_room_for_the_most_rows_an_upsert_takes_even_indented(active_rules, settings):
    row = {"account": "S1-000001", "symbol": "BTCUSDT", "side": "long", "quantity": "0.123456789012345678",
           "entry_price": "61234.123456789012345678", "isolated_margin": "30000.250000000000000000"}
    text = json.dumps({"rows": [row] * (settings.API_UPSERT_MAX_ROWS + 1)}, indent=4)
    assert len(text) > 2_621_440  # above Django's default limit, which answered a page of its own
    feeder = token_client("feeder", "position_service")
    response = feeder.generic("POST", "/api/v1/positions/upsert/", text, content_type="application/json")
    # read, and refused by the API's own rule on the rows
    assert (response.status_code, response.json()["details"]) == (
        400, {"rows": [f"Ensure this field has no more than {settings.API_UPSERT_MAX_ROWS} elements."]})


def test_too_many_query_parameters_or_a_foreign_host_are_json_400s(consumer, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = consumer.get("/api/v1/positions/", {f"a{i}": "1" for i in range(11)})
    assert (response.status_code, response.json()) == (
        400, body("invalid_request", "more than 10 query or form parameters"))
    response = consumer.get("/api/v1/contracts/", HTTP_HOST="evil.example")
    assert (response.status_code, response.json()) == (
        400, body("invalid_request", "this host name is not served here (ALLOWED_HOSTS)"))
    assert APIClient().get("/admin/login/", HTTP_HOST="evil.example")["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/contracts/%00/", "/api/v1/contracts/BTC%00USDT/versions/",
                                  "/api/v1/contracts/%00/versions/1/", "/api/v1/contracts/%00/diff/?to_version=1"])
def test_a_nul_in_a_symbol_is_a_404_not_a_database_error(consumer, path):
    response = consumer.get(path)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_body_nested_deeper_than_python_recurses_is_a_400(active_rules):
    response = APIClient().generic("POST", "/api/v1/auth/login/", "[" * 100_000 + "]" * 100_000,
                                   content_type="application/json")
    assert (response.status_code, response.json()) == (400, body("parse_error", "JSON parse error - nested too deeply"))


def test_a_write_without_the_trailing_slash_is_a_404_that_says_so_not_a_redirect(active_rules):
    analyst = token_client("analyst", "authors")
    response = analyst.post("/api/v1/proposals", {"yaml": "x", "rationale": "r"}, format="json")
    assert (response.status_code, response.json()) == (404, body(
        "not_found", "no such resource: /api/v1/proposals (did you mean /api/v1/proposals/? every API path ends "
                     "with a slash)"))
    assert analyst.get("/api/v1/proposals")["Location"] == "/api/v1/proposals/"  # a read is redirected as before


def test_rows_the_parser_cannot_type_are_located_by_the_service(active_rules):
    feeder = token_client("feeder", "position_service")
    response = feeder.post("/api/v1/positions/upsert/", {"rows": [None, 7]}, format="json")
    assert (response.status_code, response.json()["details"]) == (
        400, [{"path": "rows[0]", "message": "expected an object"}, {"path": "rows[1]", "message": "expected an object"}])
    response = feeder.generic("POST", "/api/v1/market-data/upsert/",
                              '{"rows": [{"symbol": "BTCUSDT", "mark_price": 1e400}]}', content_type="application/json")
    assert (response.status_code, response.json()["details"]) == (
        400, [{"path": "rows[0].mark_price", "message": "must be a decimal string or integer, not inf"}])


def test_the_format_is_negotiated_by_accept_not_by_a_query_parameter(consumer):
    response = consumer.get("/api/v1/contracts/", {"format": "xml"})
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    response = consumer.get("/api/v1/contracts/", HTTP_ACCEPT="application/xml")
    assert (response.status_code, response.json()["code"]) == (406, "not_acceptable")
