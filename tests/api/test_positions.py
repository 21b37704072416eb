"""/api/v1/positions/ and the upserts: margin state and stamp, filters, cursor pages, roles."""
from base64 import b64encode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.parameters.models import ParameterVersion
from governance.positions.models import MarginEvent, MarketData, Position, Rollout
from tests.api.book import (ANONYMOUS, READ_MATRIX, marks_write, positions_write, reads_check, row,
                            upsert_denied)
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(active_rules, django_capture_on_commit_callbacks):
    """The worked example (BTCUSDT long 10 @ 60,000, margin 30,000) and positions around it."""
    positions_write(django_capture_on_commit_callbacks,
                    row("A1"),
                    row("A2", isolated_margin="3300"),  # ratio 2950/3300: margin call
                    row("A3", isolated_margin="2900"),  # below the maintenance margin: liquidatable
                    row("A1", symbol="ETHUSDT", side="short", quantity="2", entry_price="3000", isolated_margin="100"),
                    row("A4", symbol="ETHUSDT", quantity="5", entry_price="3000", isolated_margin="1000"))
    return {(p.account.code, p.symbol): p.pk for p in Position.objects.select_related("account")}


@pytest.fixture
def consumer(active_rules):
    return token_client("reader", "consumers")


@pytest.fixture
def feeder(active_rules):
    return token_client("feeder", "position_service")


def ids(response) -> list[tuple[str, str]]:
    return [(p["account"], p["symbol"]) for p in response.json()["results"]]


# --- reads ------------------------------------------------------------------------------

def test_a_positions_margin_state_and_stamp_exactly(book, consumer):
    response = consumer.get(f"/api/v1/positions/{book['A1', 'BTCUSDT']}/")
    assert response.status_code == 200
    body = response.json()
    position = Position.objects.get(pk=body["id"])
    # margin-math.md's worked example: tier 2, IM 6,000, MM 2,950, ratio 0.09833334, LP 57,281.5
    assert body == {
        "id": book["A1", "BTCUSDT"], "account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": "10",
        "entry_price": "60000", "isolated_margin": "30000",
        "updated_at": position.updated_at.isoformat().replace("+00:00", "Z"),
        "margin": {"notional": "600000", "tier": 2, "initial_margin": "6000", "maintenance_margin": "2950",
                   "margin_balance": "30000", "margin_ratio": "0.09833334", "liquidation_price": "57281.5",
                   "status": "healthy"},
        "stamp": {"contract_version": 1, "exchange_version": 1, "volatility_band": 1, "multiplier": "1",
                  "rollout": None, "stamped_at": position.computed_at.isoformat().replace("+00:00", "Z")}}
    # liquidatable at its entry: the price, 597,050 / 9.95 = 60,005.02..., is above it, rounded up
    liquidatable = consumer.get(f"/api/v1/positions/{book['A3', 'BTCUSDT']}/").json()["margin"]
    assert liquidatable == {"notional": "600000", "tier": 2, "initial_margin": "6000", "maintenance_margin": "2950",
                            "margin_balance": "2900", "margin_ratio": "1.01724138", "liquidation_price": "60005.1",
                            "status": "liquidatable"}


def test_the_stamp_names_the_rollout_that_computed_it(book, consumer, django_capture_on_commit_callbacks):
    marks_write(django_capture_on_commit_callbacks, BTCUSDT="59000")
    rollout = Rollout.objects.get(trigger="mark_price")
    body = consumer.get(f"/api/v1/positions/{book['A1', 'BTCUSDT']}/").json()
    assert body["stamp"]["rollout"] == rollout.pk
    # at the mark: balance 30,000 - 10 x 1,000; MM 590,000 x 0.005 - 50
    assert (body["margin"]["notional"], body["margin"]["margin_balance"], body["margin"]["maintenance_margin"]) == (
        "590000", "20000", "2900")


def test_an_unknown_position_is_a_404_in_the_one_shape(book, consumer):
    for missing in (999999, 2 ** 63, 10 ** 30):
        response = consumer.get(f"/api/v1/positions/{missing}/")
        assert (response.status_code, response.json()) == (
            404, {"code": "not_found", "message": f"no position {missing}", "details": None})


def test_filters_by_contract_account_status_and_side(book, consumer):
    everything = consumer.get("/api/v1/positions/")
    assert ids(everything) == [("A1", "BTCUSDT"), ("A2", "BTCUSDT"), ("A3", "BTCUSDT"), ("A1", "ETHUSDT"),
                               ("A4", "ETHUSDT")]
    assert ids(consumer.get("/api/v1/positions/?symbol=ETHUSDT")) == [("A1", "ETHUSDT"), ("A4", "ETHUSDT")]
    assert ids(consumer.get("/api/v1/positions/?account=A1")) == [("A1", "BTCUSDT"), ("A1", "ETHUSDT")]
    assert ids(consumer.get("/api/v1/positions/?status=margin_call")) == [("A2", "BTCUSDT")]
    assert ids(consumer.get("/api/v1/positions/?status=liquidatable&symbol=BTCUSDT")) == [("A3", "BTCUSDT")]
    assert ids(consumer.get("/api/v1/positions/?side=short")) == [("A1", "ETHUSDT")]
    assert ids(consumer.get("/api/v1/positions/?symbol=BTCUSDT&account=A4")) == []
    assert ids(consumer.get("/api/v1/positions/?symbol=NOPEUSDT")) == []


def test_bad_filters_and_page_parameters_are_400s_with_their_location(book, consumer):
    response = consumer.get("/api/v1/positions/?status=sleeping&side=up")
    assert (response.status_code, response.json()) == (400, {
        "code": "invalid_request", "message": "the request is invalid",
        "details": {"status": ["Select a valid choice. sleeping is not one of the available choices."],
                    "side": ["Select a valid choice. up is not one of the available choices."]}})
    for size in ("0", "1001", "ten", "-1", "\u00b2"):
        response = consumer.get("/api/v1/positions/", {"page_size": size})
        assert (response.status_code, response.json()["details"]) == (
            400, {"page_size": ["must be an integer from 1 to 1000"]})
    forged = [b64encode(b"p=abc").decode(), b64encode(b"p=99999999999999999999").decode(), "!!notbase64", "\u00e9"]
    for cursor in forged:
        response = consumer.get("/api/v1/positions/", {"cursor": cursor})
        assert (response.status_code, response.json()) == (400, {
            "code": "invalid_request", "message": "the request is invalid",
            "details": {"cursor": ["invalid cursor: use the next or previous link of a page"]}})


def test_cursor_pages_cover_the_book_once_in_id_order_without_counting(active_rules, consumer,
                                                                       django_capture_on_commit_callbacks):
    positions_write(django_capture_on_commit_callbacks,
                    *[row(f"B{i:02}", isolated_margin=str(1000 + 100 * i)) for i in range(23)])
    positions_write(django_capture_on_commit_callbacks,
                    *[row(f"B{i:02}", symbol="ETHUSDT", quantity="1", entry_price="3000", isolated_margin="300")
                      for i in range(0, 23, 2)])
    expected = list(Position.objects.order_by("id").values_list("id", flat=True))
    assert len(expected) == 35

    seen, url, pages = [], "/api/v1/positions/?page_size=10", 0
    with CaptureQueriesContext(connection) as queries:
        while url:
            body = consumer.get(url).json()
            seen += [p["id"] for p in body["results"]]
            url, pages = body["next"], pages + 1
    assert (seen, pages) == (expected, 4)
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]

    # with a filter, forwards then back: the same rows, none twice, none left out
    eth = list(Position.objects.filter(symbol="ETHUSDT").order_by("id").values_list("id", flat=True))
    first = consumer.get("/api/v1/positions/?page_size=10&symbol=ETHUSDT").json()
    second = consumer.get(first["next"]).json()
    assert ([p["id"] for p in first["results"] + second["results"]], second["next"]) == (eth, None)
    back = consumer.get(second["previous"]).json()
    assert [p["id"] for p in back["results"]] == eth[:10]


def test_a_page_reads_a_fixed_number_of_queries(book, consumer, django_assert_max_num_queries):
    # the account code and the stamp's version numbers are joined in: no query per row
    with django_assert_max_num_queries(6):
        assert len(consumer.get("/api/v1/positions/").json()["results"]) == 5


@pytest.mark.parametrize("roles, status", READ_MATRIX)
def test_who_may_read_positions(book, roles, status):
    reads_check(["/api/v1/positions/", f"/api/v1/positions/{book['A1', 'BTCUSDT']}/"], roles, status)


# --- upserts ----------------------------------------------------------------------------

def test_the_position_service_upserts_positions_and_they_are_margined(active_rules, feeder, consumer):
    response = feeder.post("/api/v1/positions/upsert/", {"rows": [row("A1"), row("A2", symbol="ETHUSDT")]},
                           format="json")
    assert (response.status_code, response.json()) == (200, {"rows": 2, "created": 2, "updated": 0})
    response = feeder.post("/api/v1/positions/upsert/",
                           {"rows": [row("A1", isolated_margin="2900"), row("A3", quantity=7)]}, format="json")
    assert (response.status_code, response.json()) == (200, {"rows": 2, "created": 1, "updated": 1})
    a1 = Position.objects.get(account__code="A1")
    assert (a1.isolated_margin, a1.status) == (2900, "liquidatable")
    assert consumer.get(f"/api/v1/positions/{a1.pk}/").json()["margin"]["status"] == "liquidatable"
    assert list(MarginEvent.objects.values_list("symbol", "old_status", "new_status")) == [
        ("BTCUSDT", "healthy", "liquidatable")]


def test_bad_rows_are_located_by_the_service_and_nothing_is_written(active_rules, feeder):
    response = feeder.post("/api/v1/positions/upsert/", {"rows": [
        row("A1"), row("A2", symbol="NOPE", quantity="-1"), "not a row", row("A3", entry_price=60000.5),
        row("A1")]}, format="json")
    assert (response.status_code, response.json()) == (400, {
        "code": "validation_failed",
        "message": "5 invalid field(s) in the positions; first: rows[1].symbol: unknown contract 'NOPE'; "
                   "nothing was written",
        "details": [{"path": "rows[1].symbol", "message": "unknown contract 'NOPE'"},
                    {"path": "rows[1].quantity", "message": "must be positive, got -1"},
                    {"path": "rows[2]", "message": "expected an object"},
                    {"path": "rows[3].entry_price", "message": "must be a decimal string or integer, not 60000.5"},
                    {"path": "rows[4]", "message": "duplicate position A1/BTCUSDT in this upsert"}]})
    assert (Position.objects.count(), MarginEvent.objects.count()) == (0, 0)
    response = feeder.post("/api/v1/positions/upsert/", {"rows": []}, format="json")
    assert (response.status_code, response.json()["details"]) == (400, [{"path": "rows", "message": "no rows"}])


def test_the_envelope_is_checked_before_the_rows(active_rules, feeder, settings):
    settings.API_UPSERT_MAX_ROWS = 2
    invalid = {"code": "invalid_request", "message": "the request is invalid"}
    for url in ("/api/v1/positions/upsert/", "/api/v1/market-data/upsert/"):
        response = feeder.post(url, {"rows": [row("A1"), row("A2"), row("A3")]}, format="json")
        assert (response.status_code, response.json()) == (
            400, {**invalid, "details": {"rows": ["Ensure this field has no more than 2 elements."]}})
        response = feeder.post(url, {"positions": []}, format="json")
        assert (response.status_code, response.json()) == (400, {**invalid, "details": {
            "rows": ["This field is required."], "positions": ["unknown field"]}})
        response = feeder.post(url, {"rows": {"account": "A1"}}, format="json")
        assert (response.status_code, response.json()) == (400, {**invalid, "details": {"rows": [
            'Expected a list of items but got type "dict".']}})
        response = feeder.post(url, [row("A1")], format="json")
        assert (response.status_code, response.json()) == (400, {**invalid, "details": {"non_field_errors": [
            "Invalid data. Expected a dictionary, but got list."]}})
        response = feeder.post(url, "rows=1", content_type="application/x-www-form-urlencoded")
        assert (response.status_code, response.json()) == (415, {
            "code": "unsupported_media_type", "details": None,
            "message": 'Unsupported media type "application/x-www-form-urlencoded" in request.'})
        response = feeder.post(url, "{not json", content_type="application/json")
        assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    assert Position.objects.count() == MarketData.objects.count() == 0


def test_market_data_starts_rollouts_of_changed_marks(active_rules, feeder, consumer,
                                                      django_capture_on_commit_callbacks):
    positions_write(django_capture_on_commit_callbacks, row("A1"), row("A2", isolated_margin="3300"))
    with django_capture_on_commit_callbacks(execute=True):
        response = feeder.post("/api/v1/market-data/upsert/", {"rows": [
            {"symbol": "BTCUSDT", "mark_price": "59500", "realized_volatility": "0.3"},
            {"symbol": "ETHUSDT", "mark_price": 3100}]}, format="json")
    assert response.status_code == 200
    body = response.json()
    rollout = Rollout.objects.get(trigger="mark_price")  # both marks are new, the bands unchanged: one rollout
    # the answer comes before the workers run (here: when the test's transaction "commits")
    assert body == {"rows": 2, "rollouts": [{
        "id": rollout.pk, "trigger": "mark_price", "state": "running", "symbols": ["BTCUSDT", "ETHUSDT"],
        "contract_version": None, "exchange_version": None, "superseded_by": None,
        "positions_total": 2, "positions_done": 0, "chunks_total": 1, "chunks_done": 0, "events": 0,
        "started_at": rollout.started_at.isoformat().replace("+00:00", "Z"), "finished_at": None, "detail": ""}]}
    # the rollout ran (eager tasks at commit): the positions are at the new mark
    assert rollout.state == "completed"
    margin = consumer.get(f"/api/v1/positions/{Position.objects.get(account__code='A2').pk}/").json()["margin"]
    # balance 3,300 - 10 x 500; MM 595,000 x 0.005 - 50
    assert (margin["margin_balance"], margin["maintenance_margin"], margin["status"]) == (
        "-1700", "2925", "liquidatable")

    response = feeder.post("/api/v1/market-data/upsert/", {"rows": [
        {"symbol": "BTCUSDT", "mark_price": "0"}, {"symbol": "NOPE", "mark_price": "1"}]}, format="json")
    assert (response.status_code, response.json()["details"]) == (400, [
        {"path": "rows[0].mark_price", "message": "must be positive, got 0"},
        {"path": "rows[1].symbol", "message": "unknown contract 'NOPE'"}])
    assert MarketData.objects.get(symbol="BTCUSDT").mark_price == 59500


@pytest.mark.parametrize("roles", [["consumers"], ["authors"], ["committee"], ["emergency"], []])
def test_only_the_position_service_may_upsert(active_rules, roles):
    client = token_client("someone", *roles)
    for url in ("/api/v1/positions/upsert/", "/api/v1/market-data/upsert/"):
        response = client.post(url, {"rows": [row()]}, format="json")
        assert (response.status_code, response.json()) == (403, upsert_denied("someone"))
        response = APIClient().post(url, {"rows": [row()]}, format="json")
        assert (response.status_code, response.json()) == (401, ANONYMOUS)
    assert Position.objects.count() == MarketData.objects.count() == 0
    assert ParameterVersion.objects.filter(state="active").count() == 15
