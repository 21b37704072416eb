"""?as_of= (effective time) and ?recorded_by= (what the system had recorded): past answers."""
from datetime import datetime, timedelta, timezone

import pytest

from governance.parameters import services
from governance.parameters.models import ParameterVersion
from tests.api.conftest import token_client
from tests.parameters.conftest import EXCHANGE_BTC_ONLY, contract_text, edit

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
APPROVED = datetime(2026, 1, 2, 8, tzinfo=timezone.utc)
EFFECTIVE = datetime(2026, 1, 2, 10, tzinfo=timezone.utc)
ACTIVATED = EFFECTIVE + timedelta(seconds=25)  # the periodic task's next tick
EXCHANGE = EXCHANGE_BTC_ONLY


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def approved(author, members, text: str, key: str | None, *, now: datetime):
    version = services.version_draft_create(actor=author, yaml_text=text, rationale="A change.", subject_key=key)
    version = services.version_submit(actor=author, version=version, now=now)
    for member in members:
        version = services.version_approve(actor=member, version=version, content_hash=version.content_hash, now=now)
    return version


@pytest.fixture
def timeline(analyst, alice, bob):
    """BTCUSDT v1 active from T1; v2 (tier 2 maintenance 0.005 -> 0.0055) scheduled for EFFECTIVE,
    activated 25 s later by the periodic task (tier 3 amount 950 -> 75 + 600,000 x 0.001 = 675).
    The exchange-wide v1 is active from T1 too."""
    for text, key in ((contract_text(), None), (EXCHANGE, "exchange")):
        v1 = approved(analyst, [alice, bob], text, key, now=T1)
        services.version_activate(actor=alice, version=v1, now=T1)
    text = edit(contract_text(), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
    v2 = approved(analyst, [alice, bob], text, None, now=APPROVED)
    services.version_schedule(actor=alice, version=v2, effective_at=EFFECTIVE, now=APPROVED)
    assert [v.number for v in services.versions_activate_due(now=ACTIVATED)] == [2]


@pytest.fixture
def reader(timeline):
    return token_client("reader", "consumers")


def tier2(body: dict) -> tuple:
    return body["version"], body["tiers"][1]["maintenance_margin_rate"], body["tiers"][2]["maintenance_amount"]


def test_as_of_answers_by_effective_time(reader):
    now = reader.get("/api/v1/contracts/BTCUSDT/").json()
    assert (tier2(now), now["volatility_band"], now["multiplier"]) == ((2, "0.0055", "675"), 1, "1")
    before = reader.get("/api/v1/contracts/BTCUSDT/", {"as_of": stamp(EFFECTIVE - timedelta(seconds=1))}).json()
    assert tier2(before) == (1, "0.005", "950")
    # effective at 10:00 although the task activated it 25 s later
    at = reader.get("/api/v1/contracts/BTCUSDT/", {"as_of": stamp(EFFECTIVE + timedelta(seconds=10))}).json()
    assert (tier2(at), at["effective_at"], at["activated_at"]) == (
        (2, "0.0055", "675"), "2026-01-02T10:00:00Z", "2026-01-02T10:00:25Z")
    # a past answer leaves the band out: volatility is not kept over time
    assert (at["volatility_band"], at["multiplier"], at["exchange_version"]) == (None, "1", 1)


def test_recorded_by_reproduces_what_the_system_answered_then(reader):
    moment = stamp(EFFECTIVE + timedelta(seconds=10))
    then = reader.get("/api/v1/contracts/BTCUSDT/", {"as_of": moment, "recorded_by": moment}).json()
    assert tier2(then) == (1, "0.005", "950")  # the activation was not recorded yet
    alone = reader.get("/api/v1/contracts/BTCUSDT/", {"recorded_by": moment})
    assert tier2(alone.json()) == (1, "0.005", "950")
    later = reader.get("/api/v1/contracts/BTCUSDT/", {"recorded_by": stamp(ACTIVATED)}).json()
    assert tier2(later) == (2, "0.0055", "675")
    listing = reader.get("/api/v1/contracts/", {"recorded_by": moment}).json()
    v1 = ParameterVersion.objects.get(subject__key="BTCUSDT", number=1)
    assert listing == [{"symbol": "BTCUSDT", "version": 1, "content_hash": v1.content_hash,
                        "effective_at": "2026-01-01T00:00:00Z", "activated_at": "2026-01-01T00:00:00Z"}]
    exchange = reader.get("/api/v1/exchange/", {"recorded_by": moment}).json()
    assert (exchange["version"], exchange["global_multiplier"]) == (1, "1")


def test_past_answers_have_their_own_etag(reader):
    moment = {"as_of": stamp(EFFECTIVE - timedelta(seconds=1))}
    past = reader.get("/api/v1/contracts/BTCUSDT/", moment)
    now = reader.get("/api/v1/contracts/BTCUSDT/")
    assert past["ETag"] != now["ETag"]
    assert reader.get("/api/v1/contracts/BTCUSDT/", moment, HTTP_IF_NONE_MATCH=past["ETag"]).status_code == 304
    assert reader.get("/api/v1/contracts/BTCUSDT/", HTTP_IF_NONE_MATCH=past["ETag"]).status_code == 200


def test_before_anything_was_in_force_is_a_404(reader):
    response = reader.get("/api/v1/contracts/BTCUSDT/", {"as_of": "2025-12-31T23:59:59Z"})
    assert (response.status_code, response.json()) == (404, {
        "code": "not_found", "message": "no parameters for contract 'BTCUSDT' in force at 2025-12-31T23:59:59+00:00",
        "details": None})
    response = reader.get("/api/v1/exchange/", {"as_of": "2025-12-31T23:59:59Z"})
    assert (response.status_code, response.json()["message"]) == (
        404, "no exchange-wide adjustments in force at that time")
    assert reader.get("/api/v1/contracts/", {"as_of": "2025-12-31T23:59:59Z"}).json() == []


def test_a_malformed_time_is_a_located_400(reader):
    response = reader.get("/api/v1/contracts/BTCUSDT/", {"as_of": "yesterday", "recorded_by": "2026-13-01"})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"], sorted(body["details"])) == (
        "invalid_request", "the request is invalid", ["as_of", "recorded_by"])
    assert body["details"]["as_of"][0].startswith("Datetime has wrong format.")


def test_a_rollback_to_earlier_exchange_content_has_its_own_etag(reader, analyst, alice, bob):
    later = T1 + timedelta(days=10)
    tighter = approved(analyst, [alice, bob], EXCHANGE.replace("global_multiplier: 1\n", "global_multiplier: 1.1\n"),
                       "exchange", now=later)
    services.version_activate(actor=alice, version=tighter, now=later)
    back = services.version_rollback_draft(actor=analyst, version=ParameterVersion.objects.get(
        subject__key="exchange", number=1))
    back = services.version_submit(actor=analyst, version=back, now=later + timedelta(hours=1))
    back = services.version_approve(actor=alice, version=back, content_hash=back.content_hash,
                                    now=later + timedelta(hours=1))
    services.version_activate(actor=alice, version=back, now=later + timedelta(hours=1))
    first = reader.get("/api/v1/exchange/", {"as_of": stamp(T1 + timedelta(days=1))})
    now = reader.get("/api/v1/exchange/")
    assert (first.json()["version"], now.json()["version"]) == (1, 3)
    assert first.json()["content_hash"] == now.json()["content_hash"]  # the same content...
    assert first["ETag"] != now["ETag"]  # ...in another version, whose answer names it
    assert reader.get("/api/v1/exchange/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
