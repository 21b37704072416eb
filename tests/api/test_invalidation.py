"""Tokens and the contracts' ETags are remembered per process and forgotten on PostgreSQL
notifications at commit: never a stale answer once the notification is in, the database path
while the listener is not connected, no stale store when a change commits during a read."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from governance.api import selectors
from governance.api import invalidation
from governance.api.invalidation import LISTENER
from governance.api.tokens import TOKENS
from governance.parameters import services
from governance.parameters.models import ParameterVersion
from governance.positions import services as position_services
from tests.api.conftest import token_client
from tests.parameters.conftest import approve_all, contract_text, edit
from tests.parameters.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DETAIL = "/api/v1/contracts/BTCUSDT/"
NOTIFIED_WITHIN = 2.0  # seconds: a loopback notification takes well under a millisecond


def listener_connected() -> None:
    LISTENER.usable()  # starts it in this process if needed
    deadline = time.monotonic() + 10
    while not LISTENER.usable():
        assert time.monotonic() < deadline, "the invalidation listener did not connect"
        time.sleep(0.01)


def generation_moved(cache, since: int) -> float:
    """Seconds until `cache` has a generation after `since` (a notification was handled)."""
    start = time.monotonic()
    while cache.generation == since:
        assert time.monotonic() - start < NOTIFIED_WITHIN, f"{cache.name}: no notification in {NOTIFIED_WITHIN} s"
        time.sleep(0.001)
    return time.monotonic() - start


def queries_of(client: APIClient, path: str = DETAIL, **headers) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **headers)
    return response, [q["sql"] for q in queries.captured_queries]


@pytest.fixture
def reader(active_rules) -> APIClient:
    listener_connected()
    return token_client("reader", "consumers")


def activated(version: ParameterVersion, *members) -> ParameterVersion:
    analyst = version.author
    version = approve_all(services.version_submit(actor=analyst, version=version), *members)
    return services.version_activate(actor=members[0], version=version)


def test_a_remembered_token_and_etag_answer_without_the_database(reader):
    first, _ = queries_of(reader)
    again, sql = queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (first.status_code, again.status_code, sql) == (200, 304, [])
    body, sql = queries_of(reader)
    assert (body.status_code, body.content, sql) == (200, first.content, [])


def test_a_token_deleted_elsewhere_is_refused_once_the_notification_is_in(reader):
    assert reader.get(DETAIL).status_code == 200
    since = TOKENS.generation
    AuthToken.objects.all().delete()  # committed: as by another process, the expiry sweep, the admin
    generation_moved(TOKENS, since)
    refused = reader.get(DETAIL)
    assert (refused.status_code, refused.json()["message"]) == (401, "Invalid token.")


def test_logout_then_the_same_token_is_refused_on_the_next_request(reader):
    assert reader.get(DETAIL).status_code == 200
    assert reader.post("/api/v1/auth/logout/").status_code == 204
    refused = reader.get(DETAIL)  # this process forgot at once; no waiting
    assert (refused.status_code, refused["WWW-Authenticate"]) == (401, "Token")


def test_a_user_deactivated_or_removed_from_its_group_loses_access(reader):
    assert reader.get(DETAIL).status_code == 200
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.get(username="reader")
    since = TOKENS.generation
    user.groups.remove(Group.objects.get(name="consumers"))
    generation_moved(TOKENS, since)
    assert reader.get(DETAIL).status_code == 403
    since = TOKENS.generation
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal: the trigger sees it
    generation_moved(TOKENS, since)
    refused = reader.get(DETAIL)
    assert (refused.status_code, refused.json()["message"]) == (401, "User inactive or deleted.")


def test_an_expired_remembered_token_is_refused_at_once(reader):
    user = UserFactory(username="short", roles=["consumers"])
    instance, token = AuthToken.objects.create(user, expiry=timedelta(seconds=1))
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(DETAIL).status_code == 200  # remembered now, with its expiry
    time.sleep(max(0.0, (instance.expiry - timezone.now()).total_seconds()) + 0.05)
    refused = client.get(DETAIL)
    assert (refused.status_code, refused.json()["message"]) == (401, "Invalid token.")
    assert not AuthToken.objects.filter(pk=instance.pk).exists()  # deleted by the database path


def test_an_activation_changes_the_etag_and_body_once_committed(reader):
    analyst, alice, bob = (UserFactory(username=name) for name in ("analyst", "alice", "bob"))
    before = reader.get(DETAIL)
    assert reader.get(DETAIL, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    since = selectors.ETAGS_NOW.generation
    draft = services.version_draft_create(actor=analyst, rationale="Tighter.", yaml_text=edit(
        contract_text("BTCUSDT"), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n"))
    version = activated(draft, alice, bob)
    delay = generation_moved(selectors.ETAGS_NOW, since)
    after = reader.get(DETAIL, HTTP_IF_NONE_MATCH=before["ETag"])
    assert (after.status_code, after.json()["version"]) == (200, version.number)
    assert after["ETag"] != before["ETag"] and after.json()["tiers"][1]["maintenance_margin_rate"] == "0.0055"
    assert reader.get(DETAIL, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304
    assert delay < NOTIFIED_WITHIN


def test_a_new_volatility_band_changes_the_answer(reader):
    before = reader.get(DETAIL)
    assert before.json()["volatility_band"] == 1
    since = selectors.ETAGS_NOW.generation
    position_services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                "realized_volatility": "0.7"}])
    generation_moved(selectors.ETAGS_NOW, since)
    stressed = reader.get(DETAIL, HTTP_IF_NONE_MATCH=before["ETag"])
    assert (stressed.status_code, stressed.json()["volatility_band"], stressed.json()["multiplier"]) == (200, 2, "1.1")


def test_a_mark_price_alone_forgets_nothing(reader):
    since = selectors.ETAGS_NOW.generation
    position_services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                "realized_volatility": "0.45"}])
    generation_moved(selectors.ETAGS_NOW, since)  # a new row: its volatility is new
    first = reader.get(DETAIL)
    since = selectors.ETAGS_NOW.generation
    position_services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "61000",
                                                "realized_volatility": "0.45"}])
    time.sleep(0.2)
    assert selectors.ETAGS_NOW.generation == since
    _, sql = queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])
    assert sql == []


def test_without_the_listener_every_request_takes_the_database_path(reader, monkeypatch):
    monkeypatch.setattr(invalidation, "RECONNECT_SECONDS", 3.0)  # time to look while it is away
    first = reader.get(DETAIL)
    assert queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])[1] == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [LISTENER.backend_pid])
    deadline = time.monotonic() + 5
    while LISTENER.connected:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # until it is connected again (RECONNECT_SECONDS), nothing is taken from or put in a cache
    for _ in range(2):  # and nothing is remembered either
        response, sql = queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])
        assert response.status_code == 304
        assert any("knox_authtoken" in q for q in sql) and any("realized_volatility" in q for q in sql)
    assert not LISTENER.connected
    listener_connected()
    queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])  # remembered again
    assert queries_of(reader, HTTP_IF_NONE_MATCH=first["ETag"])[1] == []


def test_a_change_committed_during_a_read_is_not_stored(reader):
    """The read takes its epoch first; the notification of a commit during the read discards
    it, so the old value it read is not served afterwards."""
    old_etag = selectors.contract_etag(symbol="BTCUSDT")
    since = selectors.ETAGS_NOW.generation

    def read_then_commit() -> str:
        value = selectors.contract_etag(symbol="BTCUSDT")  # the old answer
        done = threading.Event()

        def elsewhere() -> None:  # another connection commits a new band meanwhile
            try:
                position_services.market_data_upsert(rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                            "realized_volatility": "0.9"}])
            finally:
                from django.db import connection as theirs
                theirs.close()
                done.set()
        threading.Thread(target=elsewhere).start()
        assert done.wait(10)
        generation_moved(selectors.ETAGS_NOW, since)
        return value

    assert selectors.ETAGS_NOW.get_or_load("BTCUSDT", read_then_commit) == old_etag  # this request's answer
    assert selectors.ETAGS_NOW.peek("BTCUSDT") is None  # but not remembered
    assert selectors.contract_etag_now("BTCUSDT") != old_etag
    assert reader.get(DETAIL).json()["volatility_band"] == 2  # 0.9: from 0.6 up to 1
