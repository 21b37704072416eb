"""POST /api/v1/what-if/: the margin engine on a posted position, under the parameters in force or
a proposed version; nothing is written."""
import pytest

from governance.positions.models import Position
from tests.api.book import ANONYMOUS, marks_write, version_propose
from tests.api.conftest import token_client
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db

# margin-math.md's worked example: BTCUSDT long 10 @ 60,000 with 30,000 of isolated margin
EXAMPLE = {"symbol": "BTCUSDT", "side": "long", "quantity": "10", "entry_price": "60000", "isolated_margin": "30000"}


@pytest.fixture
def consumer(active_rules):
    return token_client("reader", "consumers")


def test_the_worked_example_under_the_parameters_in_force(consumer):
    response = consumer.post("/api/v1/what-if/", EXAMPLE, format="json")
    assert (response.status_code, response.json()) == (200, {
        **EXAMPLE, "mark_price": None,
        "margin": {"notional": "600000", "tier": 2, "initial_margin": "6000", "maintenance_margin": "2950",
                   "margin_balance": "30000", "margin_ratio": "0.09833334", "liquidation_price": "57281.5",
                   "status": "healthy"},
        "parameters": {"contract_version": 1, "exchange_version": 1, "volatility_band": 1, "multiplier": "1",
                       "proposed_version": None}})
    assert Position.objects.count() == 0


def test_at_the_contracts_mark_or_a_given_one(consumer, django_capture_on_commit_callbacks):
    marks_write(django_capture_on_commit_callbacks, BTCUSDT="57500")
    at_mark = consumer.post("/api/v1/what-if/", EXAMPLE, format="json").json()
    # notional 575,000: 575,000 x 0.005 - 50 = 2,825; balance 30,000 - 10 x 2,500 = 5,000; 2,825 / 5,000
    assert (at_mark["mark_price"], at_mark["margin"]["maintenance_margin"], at_mark["margin"]["margin_balance"],
            at_mark["margin"]["margin_ratio"], at_mark["margin"]["status"]) == ("57500", "2825", "5000", "0.565",
                                                                                "healthy")
    given = consumer.post("/api/v1/what-if/", {**EXAMPLE, "mark_price": "57000"}, format="json").json()
    # 30,000 - 30,000 = 0: no positive balance, no ratio
    assert (given["mark_price"], given["margin"]["margin_balance"], given["margin"]["margin_ratio"],
            given["margin"]["status"]) == ("57000", "0", None, "liquidatable")


def test_under_a_proposed_version_before_it_is_active(consumer):
    tighter = version_propose(edit(contract_text("BTCUSDT"), "maintenance_margin_rate: 0.005\n",
                                   "maintenance_margin_rate: 0.0055\n"))
    body = consumer.post("/api/v1/what-if/", {**EXAMPLE, "version": tighter.pk}, format="json").json()
    # tier 2 at 0.0055: maintenance amount 50,000 x (0.0055 - 0.004) = 75; 600,000 x 0.0055 - 75 = 3,225
    assert (body["margin"]["maintenance_margin"], body["margin"]["margin_ratio"]) == ("3225", "0.1075")
    assert body["parameters"] == {"contract_version": 2, "exchange_version": 1, "volatility_band": 1,
                                  "multiplier": "1", "proposed_version": tighter.pk}
    assert consumer.post("/api/v1/what-if/", EXAMPLE, format="json").json()["margin"]["maintenance_margin"] == "2950"


def test_a_version_that_cannot_be_tried_is_refused_where_it_is(consumer):
    eth = version_propose(edit(contract_text("ETHUSDT"), "rationale: >-\n", "rationale: >-\n  Reviewed again.\n"))
    response = consumer.post("/api/v1/what-if/", {**EXAMPLE, "version": eth.pk}, format="json")
    message = f"version {eth.pk} is a version of ETHUSDT, not of BTCUSDT"
    assert (response.status_code, response.json()) == (400, {
        "code": "validation_failed", "message": message, "details": [{"path": "version", "message": message}]})
    missing = consumer.post("/api/v1/what-if/", {**EXAMPLE, "version": 999999}, format="json")
    assert (missing.status_code, missing.json()) == (404, {
        "code": "not_found", "message": "no parameter version 999999", "details": None})


@pytest.mark.parametrize("change, details", [
    ({"quantity": 1.5}, {"quantity": ["must be a decimal string or an integer, not a JSON number with a fraction "
                                      "or exponent: 1.5"]}),
    ({"quantity": "0"}, {"quantity": ["must be positive"]}),
    ({"isolated_margin": "-1"}, {"isolated_margin": ["Ensure this value is greater than or equal to 0."]}),
    ({"side": "both"}, {"side": ['"both" is not a valid choice.']}),
    ({"leverage": "10"}, {"leverage": ["unknown field"]}),
    ({"quantity": "1_0"}, {"quantity": ["not a decimal in plain notation (digits, at most one point): '1_0'"]}),
    ({"entry_price": "6E+4"}, {"entry_price": ["not a decimal in plain notation (digits, at most one point): '6E+4'"]}),
    ({"quantity": " 1 "}, {"quantity": ["not a decimal in plain notation (digits, at most one point): ' 1 '"]}),
])
def test_bad_input_is_a_400_with_the_fields_at_fault(consumer, change, details):
    response = consumer.post("/api/v1/what-if/", {**EXAMPLE, **change}, format="json")
    assert (response.status_code, response.json()) == (400, {
        "code": "invalid_request", "message": "the request is invalid", "details": details})


def test_a_notional_beyond_the_last_tier_is_answered_as_a_position_would_carry_it(consumer):
    response = consumer.post("/api/v1/what-if/", {**EXAMPLE, "quantity": "1000000"}, format="json")
    assert (response.status_code, response.json()["margin"]) == (200, {
        "notional": "60000000000", "tier": None, "initial_margin": None, "maintenance_margin": None,
        "margin_balance": None, "margin_ratio": None, "liquidation_price": None, "status": "beyond_tiers"})


def test_unknown_contracts_and_anonymous_callers(consumer):
    unknown = consumer.post("/api/v1/what-if/", {**EXAMPLE, "symbol": "NOPE"}, format="json")
    assert (unknown.status_code, unknown.json()) == (404, {
        "code": "not_found", "message": "no active parameters for contract 'NOPE'", "details": None})
    from rest_framework.test import APIClient
    anonymous = APIClient().post("/api/v1/what-if/", EXAMPLE, format="json")
    assert (anonymous.status_code, anonymous.json()) == (401, ANONYMOUS)
    feeder = token_client("feeder", "position_service").post("/api/v1/what-if/", EXAMPLE, format="json")
    assert feeder.status_code == 403
