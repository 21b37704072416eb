"""Schemathesis against the live OpenAPI schema: every operation the schema lists, on a real server.

The app runs for real (pytest-django's live server: a threaded WSGI server on a free port), its
schema is fetched over HTTP from /api/v1/schema/ and schemathesis generates requests for every
operation in it, positive and negative, and runs its checks on every response: no 5xx, the
status code documented, the content type and the body as the schema says, the response headers,
and authentication enforced where the schema declares it (a request without the token, and with
a wrong one, must fail). That negative data is rejected is not checked (negative_data_rejection is
off): the answer to a negative request must pass the other checks, but need not be a 4xx.

Requests carry a knox token of a user in every role, so every operation is allowed; each example
gets a new token, since an example of a logout operation revokes the one it was sent with. The
database holds the rules/ parameters, a seeded book and versions in every state (tests.api.live).
A failure prints the request that reproduces it (as a curl command) and the response.
"""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.live import api_book, api_superuser, known_values, token_for  # noqa: F401 (fixtures)

# Examples per operation and generation phase. Bounded so that the file runs in about a minute on
# two cores; SCHEMATHESIS_MAX_EXAMPLES raises it for a deeper run.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))


@pytest.fixture
def unthrottled(monkeypatch):
    """The checks send many requests without credentials, which count at the anonymous rate
    (60/min) like any refused request: conformance, not throttling, is tested here."""
    from rest_framework import throttling

    monkeypatch.setattr(throttling.SimpleRateThrottle, "THROTTLE_RATES", {"user": "1000000/min",
                                                                          "anon": "1000000/min"})


@pytest.fixture
def api_schema(live_server, api_book, api_superuser, unthrottled):
    """The schema as the running server serves it. A server that does not start, or a schema it
    cannot serve, errors here: the test fails, it is never skipped."""
    url = f"{live_server.url}/api/v1/schema/"
    response = requests.get(url, headers={"Accept": "application/vnd.oai.openapi+json"}, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text[:2000])
    dictionaries, parameters = known_values()
    config = schemathesis.Config.from_dict({
        "base-url": live_server.url,
        "dictionaries": dictionaries,
        "parameters": parameters,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # the stateful phase needs links between operations, which the schema does not declare
        "phases": {"stateful": {"enabled": False}},
        "request-timeout": 30, "checks": {"negative_data_rejection": {"enabled": False}},
        # A POST body can be valid for the schema and still be refused on its meaning: YAML that
        # is no rule file, a row of an unknown contract, a content hash that is not the version's.
        # Those answers (400 validation_failed, 422 policy_violation) are part of the contract;
        # every query parameter and every other operation must accept what the schema allows.
        # Likewise a `cursor` is opaque: one the server did not issue is a 400.
        "operations": [{"include-method": "POST", "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 422, 429]}}},
                       {"include-path-regex": "^/api/v1/(positions|rollouts)/$", "include-method": "GET",
                        "checks": {"positive_data_acceptance": {
                            "expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 429]}}}],
    })
    return schemathesis.openapi.from_url(url, config=config, timeout=30)


schema = schemathesis.pytest.from_fixture("api_schema")


@settings(deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@schema.parametrize()
def test_every_operation_conforms_to_the_schema(case, api_superuser):
    case.call_and_validate(headers={"Authorization": f"Token {token_for(api_superuser)}"})


def test_the_schema_lists_the_parameter_endpoints(api_schema):
    """What the test above covers: at least the endpoints that exist now (more are added as the
    schema grows, without a change here)."""
    operations = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert {("GET", "/api/v1/contracts/"), ("GET", "/api/v1/contracts/{symbol}/"),
            ("GET", "/api/v1/contracts/{symbol}/versions/"), ("GET", "/api/v1/contracts/{symbol}/versions/{number}/"),
            ("GET", "/api/v1/contracts/{symbol}/diff/"), ("GET", "/api/v1/exchange/"),
            ("GET", "/api/v1/exchange/versions/"), ("GET", "/api/v1/exchange/versions/{number}/"),
            ("GET", "/api/v1/exchange/diff/"), ("GET", "/api/v1/schedule/"),
            ("GET", "/api/v1/compat/leverage-bracket/")} <= operations
