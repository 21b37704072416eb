"""Positions, rollouts and margin events through the services (on SQLite and PostgreSQL)."""
from decimal import Decimal as D

import pytest

from governance.errors import ValidationFailed
from governance.parameters import services as parameter_services
from governance.parameters.models import ParameterVersion
from governance.positions import services, tasks
from governance.positions.models import MarginEvent, MarketData, Position, Rollout
from governance.positions.selectors import margin_events_after
from tests.parameters.conftest import approve_all, contract_text, edit
from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.django_db


def row(account="A1", symbol="BTCUSDT", side="long", quantity="10", entry_price="60000", isolated_margin="30000"):
    return {"account": account, "symbol": symbol, "side": side, "quantity": quantity, "entry_price": entry_price,
            "isolated_margin": isolated_margin}


def position(account="A1", symbol="BTCUSDT") -> Position:
    return Position.objects.get(account__code=account, symbol=symbol)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run on-commit hooks (task dispatch; eager without a broker) as a real commit would."""
    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)
    return run


def activate_btc(text):
    analyst, alice, bob = (UserFactory(username=n) for n in ("analyst", "alice", "bob"))
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=text, rationale="Tighter.")
    version = approve_all(parameter_services.version_submit(actor=analyst, version=version), alice, bob)
    return parameter_services.version_activate(actor=alice, version=version)


def test_upsert_computes_with_the_engine_and_stamps_the_versions(active_rules, committed):
    result = committed(services.positions_upsert, rows=[row(), row(symbol="ETHUSDT", side="short", quantity="2",
                                                                  entry_price="3000", isolated_margin="100")])
    assert (result.rows, result.created, result.updated) == (2, 2, 0)
    btc = position()
    # margin-math.md's worked example: tier 2, MM 2,950, ratio 0.09833334, LP 57,281.5
    assert (btc.tier, btc.maintenance_margin, btc.margin_ratio, btc.liquidation_price, btc.status) == (
        2, D("2950"), D("0.09833334"), D("57281.5"), "healthy")
    active = ParameterVersion.objects.get(subject__key="BTCUSDT", state="active")
    exchange = ParameterVersion.objects.get(subject__key="exchange", state="active")
    assert (btc.contract_version_id, btc.exchange_version_id, btc.volatility_band) == (active.pk, exchange.pk, 1)
    assert MarginEvent.objects.count() == 0  # pending -> healthy is not news


def test_a_bad_row_writes_nothing_and_says_where(active_rules, committed):
    with pytest.raises(ValidationFailed) as error:
        committed(services.positions_upsert, rows=[row(), row(account="A2", symbol="NOPE", quantity="-1")])
    assert error.value.message == ("2 invalid field(s) in the positions; first: rows[1].symbol: unknown contract "
                                   "'NOPE'; nothing was written")
    assert error.value.details == [{"path": "rows[1].symbol", "message": "unknown contract 'NOPE'"},
                                   {"path": "rows[1].quantity", "message": "must be positive, got -1"}]
    assert Position.objects.count() == 0


def test_activation_re_margins_the_contract_and_emits_each_change_once(active_rules, committed):
    committed(services.positions_upsert, rows=[
        row("A1", isolated_margin="3300"),  # ratio 2950/3300 = 0.894 -> margin call at 0.8
        row("A2", isolated_margin="4000"),  # 0.7375 healthy
        row("A2", symbol="ETHUSDT", side="short", quantity="2", entry_price="3000", isolated_margin="100"),
    ])
    assert [position("A1").status, position("A2").status] == ["margin_call", "healthy"]
    eth_before = Position.objects.filter(symbol="ETHUSDT").values().get()
    last_event = MarginEvent.objects.order_by("-id").values_list("id", flat=True).first()

    # tier 2 maintenance rate 0.005 -> 0.0055: MM = 600,000 x 0.0055 - cum
    text = edit(contract_text(), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
    with_commit = committed(activate_btc, text=text)
    rollout = Rollout.objects.filter(trigger="contract_version").latest("id")
    assert (rollout.state, rollout.symbols, rollout.positions_total, rollout.positions_done) == (
        "completed", ["BTCUSDT"], 2, 2)
    assert position("A2").status == "margin_call"
    assert position("A1").contract_version_id == position("A2").contract_version_id == with_commit.pk
    assert Position.objects.filter(symbol="ETHUSDT").values().get() == eth_before  # other contract untouched
    events = list(MarginEvent.objects.filter(id__gt=last_event).values_list("position__account__code", "old_status",
                                                                               "new_status"))
    assert events == [("A2", "healthy", "margin_call")]
    assert [(p.previous_status, p.status) for p in (position("A1"), position("A2"))] == [
        ("margin_call", "margin_call"), ("healthy", "margin_call")]

    chunk = rollout.chunks.get()
    assert services.rollout_chunk_apply(chunk_id=chunk.pk) is None  # redelivered: done already
    assert MarginEvent.objects.filter(id__gt=last_event).count() == 1


def test_one_position_change_never_touches_another_of_the_same_account(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1"), row("A1", symbol="ETHUSDT", side="short", quantity="2",
                                                            entry_price="3000", isolated_margin="100")])
    eth_before = position("A1", "ETHUSDT")
    committed(services.positions_upsert, rows=[row("A1", isolated_margin="2900")])  # below MM: liquidatable
    assert position("A1").status == "liquidatable"
    eth_after = position("A1", "ETHUSDT")
    assert [getattr(eth_after, f.attname) for f in Position._meta.fields] == \
           [getattr(eth_before, f.attname) for f in Position._meta.fields]
    assert list(MarginEvent.objects.values_list("symbol", "old_status", "new_status")) == [
        ("BTCUSDT", "healthy", "liquidatable")]


def test_a_newer_rollout_supersedes_an_overlapping_one_and_takes_its_scope(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1"), row("A2", symbol="ETHUSDT", side="short", quantity="2",
                                                            entry_price="3000", isolated_margin="100")])
    older = services.rollout_start(trigger="manual", symbols=["BTCUSDT", "ETHUSDT"])  # not dispatched
    newer = committed(services.rollout_start, trigger="manual", symbols=["BTCUSDT"])
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, older.superseded_by_id) == ("superseded", newer.pk)
    assert (newer.state, newer.symbols, newer.positions_done) == ("completed", ["BTCUSDT", "ETHUSDT"], 2)
    assert services.rollout_chunk_apply(chunk_id=older.chunks.first().pk) is None
    assert set(Position.objects.values_list("rollout_id", flat=True)) == {newer.pk}


def _four_positions(committed):
    committed(services.positions_upsert, rows=[row("A1"), row("A2", symbol="ETHUSDT"), row("A3"),
                                               row("A4", symbol="ETHUSDT")])
    return [position(a, s).pk for a, s in (("A1", "BTCUSDT"), ("A2", "ETHUSDT"), ("A3", "BTCUSDT"),
                                           ("A4", "ETHUSDT"))]


def test_a_superseding_rollout_takes_over_the_chunks_still_to_do_and_not_the_done_ones(active_rules, committed,
                                                                                        settings):
    settings.ROLLOUT_CHUNK_SIZE = 2
    p1, p2, p3, p4 = _four_positions(committed)
    older = services.rollout_start(trigger="manual", symbols=["BTCUSDT", "ETHUSDT"])  # not dispatched
    first, second = older.chunks.all()
    services.rollout_chunk_apply(chunk_id=first.pk)
    newer = committed(services.rollout_start, trigger="mark_price", symbols=["BTCUSDT"])
    older.refresh_from_db()
    newer.refresh_from_db()
    assert list(newer.chunks.values_list("first_id", "last_id", "positions", "symbols")) == [
        (p1, p3, 2, ["BTCUSDT"]), (p3, p4, 1, ["ETHUSDT"])]
    assert (older.state, newer.state, newer.symbols, newer.positions_total, newer.positions_done) == (
        "superseded", "completed", ["BTCUSDT", "ETHUSDT"], 3, 3)
    assert services.rollout_chunk_apply(chunk_id=second.pk) is None
    # p2 was done by the older rollout's first chunk and is not done again
    assert dict(Position.objects.values_list("id", "rollout_id")) == {
        p1: newer.pk, p2: older.pk, p3: newer.pk, p4: newer.pk}


def test_a_chain_of_superseding_rollouts_carries_only_the_work_left(active_rules, committed, settings):
    settings.ROLLOUT_CHUNK_SIZE = 2
    p1, p2, p3, p4 = _four_positions(committed)
    older = services.rollout_start(trigger="manual", symbols=["BTCUSDT", "ETHUSDT"])
    services.rollout_chunk_apply(chunk_id=older.chunks.first().pk)
    middle = services.rollout_start(trigger="mark_price", symbols=["BTCUSDT"])  # BTC (p1-p3), ETH (p3-p4)
    newest = committed(services.rollout_start, trigger="mark_price", symbols=["ETHUSDT"])
    middle.refresh_from_db()
    newest.refresh_from_db()
    assert list(newest.chunks.values_list("first_id", "last_id", "positions", "symbols")) == [
        (p1, p3, 2, ["BTCUSDT"]), (p2, p4, 2, ["ETHUSDT"])]
    assert (middle.state, middle.superseded_by_id, newest.state, newest.positions_done) == (
        "superseded", newest.pk, "completed", 4)
    assert set(Position.objects.values_list("rollout_id", flat=True)) == {newest.pk}


def test_a_chunk_counts_every_delivery_that_started_on_it(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1")])
    chunk = services.rollout_start(trigger="manual", symbols=["BTCUSDT"]).chunks.get()  # not dispatched
    services.rollout_chunk_attempt_count(chunk_id=chunk.pk)  # a worker killed mid-chunk: its work rolled back
    tasks.rollout_chunk_apply_task.apply(args=(chunk.pk,))  # the redelivery
    tasks.rollout_chunk_apply_task.apply(args=(chunk.pk,))  # a duplicate, once the chunk is done: not counted
    chunk.refresh_from_db()
    assert (chunk.attempts, chunk.positions, chunk.done_at is not None) == (2, 1, True)


def test_the_final_step_re_margins_positions_left_with_an_old_stamp(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1")])
    Position.objects.update(volatility_band=None)  # as if a chunk had been lost
    rollout = services.rollout_start(trigger="manual", symbols=["BTCUSDT"])
    rollout.chunks.all().delete()
    type(rollout).objects.filter(pk=rollout.pk).update(chunks_total=0)
    rollout = services.rollout_finish(rollout_id=rollout.pk)
    assert (rollout.state, rollout.detail) == (
        "completed", "final step re-margined 1 position(s) left with an old stamp")
    assert position().volatility_band == 1


def test_a_volatility_band_change_starts_a_rollout_of_that_contract(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1")])
    rollouts = committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                             "realized_volatility": "0.9"}])
    assert [(r.trigger, r.symbols) for r in rollouts] == [("volatility_band", ["BTCUSDT"])]
    # volatility 0.9: band 2 (from 0.6), x 1.1; tier 2 at 600,000: 600,000 x 0.0055 - 50,000 x (0.0055 - 0.0044)
    btc = position()
    assert (btc.volatility_band, btc.multiplier, btc.maintenance_margin) == (2, D("1.1"), D("3245"))


def test_a_mark_without_volatility_keeps_the_last_known_volatility_and_band(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1")])
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                  "realized_volatility": "0.9"}])
    band = position().volatility_band
    rollouts = committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "61000"},
                                                            {"symbol": "ETHUSDT", "mark_price": "3000"}])
    assert [(r.trigger, r.symbols) for r in rollouts] == [("mark_price", ["BTCUSDT", "ETHUSDT"])]
    assert dict(MarketData.objects.values_list("symbol", "realized_volatility")) == {
        "BTCUSDT": D("0.9"), "ETHUSDT": None}
    assert (band > 1, position().volatility_band) == (True, band)


def test_the_event_feed_reads_in_order_with_a_cursor(active_rules, committed):
    committed(services.positions_upsert, rows=[row("A1", isolated_margin="3300"), row("A2", isolated_margin="2900")])
    first = margin_events_after(cursor=0, limit=1)
    rest = margin_events_after(cursor=first[-1].seq)
    assert [(e.old_status, e.new_status) for e in first + rest] == [("pending", "margin_call"),
                                                                   ("pending", "liquidatable")]
    assert margin_events_after(cursor=rest[-1].seq) == []
    with pytest.raises(ValidationFailed, match="^cursor must be >= 0 and limit between 1 and 10000$"):
        margin_events_after(cursor=-1)


def test_the_admin_shows_rollout_progress_and_positions(active_rules, committed, client):
    committed(services.positions_upsert, rows=[row("A1")])
    committed(services.rollout_start, trigger="manual", symbols=["BTCUSDT"])
    client.force_login(UserFactory(username="alice"))
    page = client.get("/admin/positions/rollout/").content.decode()
    assert '<progress value="100" max="100" title="1 of 1 chunks"></progress> 100%' in page
    assert client.get("/admin/positions/position/").status_code == 200
    assert client.get("/admin/positions/marginevent/").status_code == 200
    client.force_login(UserFactory(username="consumer", roles=["consumers"], is_staff=False))
    assert client.get("/admin/positions/rollout/").status_code == 302  # to the login page


def test_market_data_with_a_contract_twice_is_refused_and_writes_nothing(active_rules, committed):
    with pytest.raises(ValidationFailed) as error:
        committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000"},
                                                     {"symbol": "BTCUSDT", "mark_price": "61000"}])
    assert error.value.details == [{"path": "rows[1].symbol", "message": "duplicate contract 'BTCUSDT' in this upsert"}]
    from governance.positions.models import MarketData
    assert MarketData.objects.count() == 0


def test_rows_whose_codes_are_not_strings_are_refused_where_they_are(active_rules, committed):
    with pytest.raises(ValidationFailed) as error:
        committed(services.positions_upsert, rows=[row(account={"a": 1}, symbol={})])
    assert error.value.details == [
        {"path": "rows[0].account", "message": "required: the account code (at most 64 characters)"},
        {"path": "rows[0].symbol", "message": "unknown contract {}"}]
    with pytest.raises(ValidationFailed) as error:
        committed(services.market_data_upsert, rows=[{"symbol": ["BTCUSDT"], "mark_price": "60000"},
                                                     {"symbol": ["BTCUSDT"], "mark_price": "60000"}])
    assert error.value.details == [{"path": "rows[0].symbol", "message": "unknown contract ['BTCUSDT']"},
                                   {"path": "rows[1].symbol", "message": "unknown contract ['BTCUSDT']"}]
    assert Position.objects.count() == 0


def test_an_account_code_that_no_database_could_store_is_refused_where_it_is(active_rules, committed):
    with pytest.raises(ValidationFailed) as error:
        committed(services.positions_upsert, rows=[row(account="A\x001"), row(account="B\ud800"),
                                                   row(account="C\n")])
    assert error.value.details == [
        {"path": "rows[0].account", "message": "may hold printable characters only, got 'A\\x001'"},
        {"path": "rows[1].account", "message": "may hold printable characters only, got 'B\\ud800'"},
        {"path": "rows[2].account", "message": "may hold printable characters only, got 'C\\n'"}]
    assert Position.objects.count() == 0


def test_a_field_the_rows_do_not_have_is_refused_not_ignored(active_rules, committed):
    with pytest.raises(ValidationFailed) as error:
        committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                      "realised_volatility": "2.0"}])
    assert error.value.message == (
        "1 invalid field(s) in the market data; first: rows[0].realised_volatility: unknown field (expected symbol, "
        "mark_price, realized_volatility); nothing was written")
    with pytest.raises(ValidationFailed) as error:
        committed(services.positions_upsert, rows=[{**row(), "leverage": "5"}])
    assert error.value.details == [{"path": "rows[0].leverage", "message": "unknown field (expected account, "
                                                                           "symbol, side, quantity, entry_price, "
                                                                           "isolated_margin)"}]
    assert (Position.objects.count(), MarketData.objects.count()) == (0, 0)


def test_resume_sends_the_final_step_of_a_rollout_that_has_no_chunk(active_rules, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    finishes = []
    monkeypatch.setattr(services, "_dispatch_finish", finishes.append)
    rollout = services.rollout_start(trigger="manual", symbols=["BTCUSDT"])  # no positions: no chunk
    Rollout.objects.filter(pk=rollout.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert (services.rollouts_resume(older_than_seconds=60), finishes) == (0, [rollout.pk])


def quiet_for(seconds: float):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=seconds)


def rollout_with_chunks(*, started_ago: float, done_ago: list[float | None]) -> tuple[Rollout, list[int]]:
    """A running rollout started `started_ago` seconds ago, a chunk per entry of `done_ago`:
    done that many seconds ago, or None, not done."""
    from governance.positions.models import RolloutChunk

    rollout = Rollout.objects.create(trigger="manual", symbols=["BTCUSDT"], started_at=quiet_for(started_ago))
    chunks = [RolloutChunk.objects.create(rollout=rollout, first_id=10 * i + 1, last_id=10 * i + 10,
                                          done_at=None if ago is None else quiet_for(ago))
              for i, ago in enumerate(done_ago)]
    return rollout, [c.pk for c in chunks]


def test_resume_resends_the_undone_chunks_of_a_rollout_gone_quiet(dispatched):
    rollout, (first, second, third) = rollout_with_chunks(started_ago=3600, done_ago=[None, 300, None])
    assert services.rollouts_resume(older_than_seconds=60) == 2
    assert dispatched == {"chunks": [first, third], "finish": []}


def test_resume_leaves_alone_a_rollout_whose_chunks_are_being_done(dispatched):
    # a long rollout: its last chunk done a moment ago, the others most likely still queued
    rollout_with_chunks(started_ago=3600, done_ago=[5, None, None])
    rollout_with_chunks(started_ago=10, done_ago=[None])  # just started: its chunks are on their way
    quiet, (chunk,) = rollout_with_chunks(started_ago=3600, done_ago=[None])
    assert services.rollouts_resume(older_than_seconds=60) == 1
    assert dispatched == {"chunks": [chunk], "finish": []}


def test_resume_sends_the_final_step_of_a_quiet_rollout_whose_chunks_are_all_done(dispatched):
    rollout, _ = rollout_with_chunks(started_ago=3600, done_ago=[600, 300])
    rollout_with_chunks(started_ago=3600, done_ago=[600, 30])  # its final step may still be on its way
    assert services.rollouts_resume(older_than_seconds=60) == 0
    assert dispatched == {"chunks": [], "finish": [rollout.pk]}


def test_resume_leaves_alone_rollouts_no_longer_running(dispatched):
    for state in ("completed", "superseded", "failed"):
        rollout, _ = rollout_with_chunks(started_ago=3600, done_ago=[None])
        Rollout.objects.filter(pk=rollout.pk).update(state=state)
    assert (services.rollouts_resume(older_than_seconds=60), dispatched) == (0, {"chunks": [], "finish": []})


def test_a_chunk_the_workers_give_up_on_fails_its_rollout_and_says_why(active_rules, monkeypatch):
    services.positions_upsert(rows=[row()])
    monkeypatch.setattr(services, "_dispatch_chunks", lambda ids: None)
    rollout = services.rollout_start(trigger="manual", symbols=["BTCUSDT"])
    chunk = rollout.chunks.get()

    def broken(**kwargs):
        raise ValueError("no such thing")

    monkeypatch.setattr(tasks, "rollout_chunk_apply", broken)
    assert tasks.rollout_chunk_apply_task.apply(args=(chunk.pk,), throw=False).state == "FAILURE"
    rollout.refresh_from_db()
    assert (rollout.state, rollout.detail) == (
        "failed", f"chunk {chunk.pk} (positions {chunk.first_id} to {chunk.last_id}) failed: ValueError: no such thing")
    assert services.rollout_chunk_apply(chunk_id=chunk.pk) is None  # a redelivery finds it failed


def test_where_sqlite_would_round_a_decimal_it_is_refused(active_rules, committed, monkeypatch):
    from django.db import connection

    rows = [row(quantity="10.00000000000000001"), row(account="A2", quantity="123456789012345")]
    with monkeypatch.context() as patch:
        patch.setattr(connection, "vendor", "sqlite")  # the check runs before anything is written
        with pytest.raises(ValidationFailed) as error:
            committed(services.positions_upsert, rows=rows)
    assert error.value.details == [{"path": "rows[0].quantity", "message": (
        "more than 15 significant digits: 10.00000000000000001 (SQLite, the embedded default, would round it; "
        "PostgreSQL keeps it exactly)")}]


@pytest.mark.postgres
def test_postgresql_keeps_every_significant_digit(active_rules, committed):
    committed(services.positions_upsert, rows=[row(quantity="10.00000000000000001")])
    assert position().quantity == D("10.00000000000000001")
