"""The impact preview: what a submitted version would do to the book, before approval."""
from datetime import timedelta
from decimal import Decimal as D
from operator import attrgetter

import pytest

from governance.errors import InvalidTransition
from governance.parameters import services as parameter_services
from governance.positions import impact, services, tasks
from governance.positions.models import ImpactPreview
from tests.parameters.conftest import contract_text, edit, exchange_text
from tests.parameters.factories import UserFactory
from tests.positions.test_services import committed, row  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

TIGHTER = edit(contract_text(), "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")


@pytest.fixture
def analyst():
    return UserFactory(username="analyst")


def submitted(committed, analyst, text=TIGHTER, subject_key=None):
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=text, rationale="Tighter.",
                                                      subject_key=subject_key)
    return committed(parameter_services.version_submit, actor=analyst, version=version)


@pytest.fixture
def book(active_rules, committed):
    """Three BTC positions at 600,000 notional (tier 2) with less and less margin, and one ETH position."""
    committed(services.positions_upsert, rows=[row("A1", isolated_margin="30000"), row("A2", isolated_margin="3700"),
                                               row("A3", isolated_margin="3200"),
                                               row("A4", symbol="ETHUSDT", side="short", quantity="2",
                                                   entry_price="3000", isolated_margin="100")])


def test_submitting_computes_the_preview_of_what_activation_would_do(book, committed, analyst):
    version = submitted(committed, analyst)
    status = impact.impact_preview_latest(version=version)
    assert status.state == "done" and status.preview.content_hash == version.content_hash
    # tier 2 rate 0.005 -> 0.0055: maintenance 600,000 x 0.005 - 50 = 2,950 -> 600,000 x 0.0055 - 75 = 3,225
    assert status.preview.result == {
        "symbols": ["BTCUSDT"],
        "positions": 3,
        "transitions": [{"from": "healthy", "to": "healthy", "positions": 1},
                        {"from": "healthy", "to": "margin_call", "positions": 1},
                        {"from": "margin_call", "to": "liquidatable", "positions": 1}],
        "worsened": 2,
        "improved": 0,
        "margins_left_out": 0,
        "initial_margin": {"before": "18000", "after": "18000", "change": "0"},
        "maintenance_margin": {"before": "8850", "after": "9675", "change": "825"},
        "accounts": [{"account": "A1", "positions": 1, "maintenance_margin_change": "275",
                      "initial_margin_change": "0", "worsened": 0},
                     {"account": "A2", "positions": 1, "maintenance_margin_change": "275",
                      "initial_margin_change": "0", "worsened": 1},
                     {"account": "A3", "positions": 1, "maintenance_margin_change": "275",
                      "initial_margin_change": "0", "worsened": 1}],
        # long liquidation prices (rounded up) 57,281.5 -> 57,307.7, 59,924.7 -> 59,952.3, 59,974.9 -> 60,002.6
        # (596,725 / 9.945 = 60,002.51...: above the entry now, and still rounded up)
        "liquidation_moves": {"buckets": [{"move": "closer by up to 1%", "positions": 3}], "moved": 3,
                              "p50": "0.00046", "p90": "0.000462", "p99": "0.000462", "max": "0.000462"},
    }
    assert status.preview.fingerprint["positions"] == 3
    assert status.preview.fingerprint["entry_notional"] == "1800000"


def test_margins_are_compared_over_positions_margined_on_both_sides(db):
    def one(account, before, after, im, mm):
        return impact.ImpactRow(account, "long", D("100"), before, after, *(x and D(x) for x in (*im, *mm)),
                                D("90"), D("90"))

    rows = [one(1, "healthy", "healthy", ("10", "11"), ("5", "6")),
            one(2, "healthy", "beyond_tiers", ("100", None), ("50", None)),  # the last cap lowered below it
            one(3, "no_parameters", "liquidatable", (None, "20"), (None, "10"))]  # a first version
    result = impact.impact_summarize(rows, symbols=["BTCUSDT"])
    assert {k: result[k] for k in ("worsened", "improved", "margins_left_out", "initial_margin",
                                   "maintenance_margin", "accounts")} == {
        "worsened": 1, "improved": 0, "margins_left_out": 2,
        "initial_margin": {"before": "10", "after": "11", "change": "1"},
        "maintenance_margin": {"before": "5", "after": "6", "change": "1"},
        "accounts": [{"account": "1", "positions": 1, "maintenance_margin_change": "1",
                      "initial_margin_change": "1", "worsened": 0},
                     {"account": "2", "positions": 1, "maintenance_margin_change": "0",
                      "initial_margin_change": "0", "worsened": 1}]}


def test_an_exchange_wide_version_previews_every_contract(book, committed, analyst):
    text = edit(exchange_text(), "global_multiplier: 1\n", "global_multiplier: 1.1\n")
    version = submitted(committed, analyst, text=text, subject_key="exchange")
    result = impact.impact_preview_latest(version=version).preview.result
    assert result["positions"] == 4 and len(result["symbols"]) == 14
    # x 1.1 on each BTC position (tier 2): IM 6,000 -> 6,600, MM 2,950 -> 600,000 x 0.0055 - 55 = 3,245;
    # on the ETH one (6,000, tier 1): IM 48 -> 52.8, MM 24 -> 26.4
    assert (result["initial_margin"], result["maintenance_margin"]) == (
        {"before": "18048", "after": "19852.8", "change": "1804.8"},
        {"before": "8874", "after": "9761.4", "change": "887.4"})


def test_a_preview_whose_book_moved_materially_is_recomputed(book, committed, analyst):
    version = submitted(committed, analyst)
    first = impact.impact_preview_latest(version=version).preview
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000"}])
    # a mark equal to the entry prices the preview already used is still a new input: material
    assert impact.impact_preview_latest(version=version).moves == ("BTCUSDT mark none -> 60000",)
    assert committed(impact.impact_previews_refresh) != []
    assert impact.impact_preview_latest(version=version).state == "done"
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60600"}])  # 1%: not material
    assert impact.impact_preview_latest(version=version).state == "done"
    assert committed(impact.impact_previews_refresh) == []
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "66000"}])
    stale = impact.impact_preview_latest(version=version)
    assert (stale.state, stale.moves) == ("stale", ("BTCUSDT mark 60000 -> 66000",))
    committed(impact.impact_previews_refresh)
    latest = impact.impact_preview_latest(version=version).preview
    assert latest.state == "done" and latest.fingerprint["marks"] == {"BTCUSDT": "66000"}
    assert ImpactPreview.objects.filter(version=version).count() == 3 and first.pk != latest.pk


def test_margin_withdrawn_or_sides_turned_make_a_preview_stale(book, committed, analyst):
    # the same positions, count and entry notional: the margin and the sides make another book
    version = submitted(committed, analyst)
    assert impact.impact_preview_latest(version=version).preview.fingerprint["isolated_margin"] == "36900"
    committed(services.positions_upsert, rows=[row("A1", isolated_margin="3000")])
    assert impact.impact_preview_latest(version=version).moves == ("isolated margin 36900 -> 9900",)
    committed(impact.impact_previews_refresh)
    committed(services.positions_upsert, rows=[row("A1", side="short", isolated_margin="3000")])
    assert impact.impact_preview_latest(version=version).moves == ("long entry notional 1800000 -> 1200000",)


def test_a_change_of_the_parameters_in_force_makes_a_preview_stale(book, committed, analyst):
    version = submitted(committed, analyst)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    other = submitted(committed, analyst, text=edit(contract_text(), "maintenance_margin_rate: 0.004\n",
                                                    "maintenance_margin_rate: 0.0042\n"))
    for member in (alice, bob):
        other = parameter_services.version_approve(actor=member, version=other, content_hash=other.content_hash)
    committed(parameter_services.version_activate, actor=alice, version=other)
    assert impact.impact_preview_latest(version=version).moves == ("the parameters in force changed",)


def test_a_change_of_volatility_band_makes_a_preview_stale(book, committed, analyst):
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000"}])
    version = submitted(committed, analyst)
    assert impact.impact_preview_latest(version=version).preview.fingerprint["bands"] == {"BTCUSDT": 1}
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                  "realized_volatility": "0.9"}])
    stale = impact.impact_preview_latest(version=version)
    assert (stale.state, stale.moves) == ("stale", ("BTCUSDT volatility band 1 -> 2",))


def test_volatility_crossing_a_band_bound_only_the_version_has_makes_its_preview_stale(book, committed, analyst):
    # the version lowers band 2 from 0.6 to 0.3: a volatility of 0.4 is band 1 in force, band 2 under it
    lower = edit(contract_text(), "  - min_volatility: 0.6\n", "  - min_volatility: 0.3\n")
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                  "realized_volatility": "0.2"}])
    version = submitted(committed, analyst, text=lower)
    first = impact.impact_preview_latest(version=version).preview
    assert first.result["maintenance_margin"] == {"before": "8850", "after": "8850", "change": "0"}
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                  "realized_volatility": "0.4"}])
    stale = impact.impact_preview_latest(version=version)
    assert (stale.state, stale.moves) == ("stale", ("BTCUSDT volatility band under the version 1 -> 2",))
    assert committed(impact.impact_previews_refresh) != []
    latest = impact.impact_preview_latest(version=version)
    assert latest.state == "done"
    assert (latest.preview.fingerprint["bands"], latest.preview.fingerprint["bands_after"]) == (
        {"BTCUSDT": 1}, {"BTCUSDT": 2})
    assert latest.preview.result["maintenance_margin"] == {"before": "8850", "after": "9735", "change": "885"}


def test_a_failed_preview_is_tried_again_by_the_refresh(book, committed, analyst, settings):
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)  # its request never sent
    pending = ImpactPreview.objects.get(version=version)
    failed = impact.impact_preview_fail(preview_id=pending.pk, error="the worker could not compute it: lost")
    wait = timedelta(seconds=settings.IMPACT_PREVIEW_RESEND_SECONDS)
    assert committed(impact.impact_previews_refresh, now=failed.computed_at + wait - timedelta(seconds=1)) == []
    again = committed(impact.impact_previews_refresh, now=failed.computed_at + wait)
    assert [p.pk for p in again] != [] and again[0].pk != failed.pk
    assert impact.impact_preview_latest(version=version).state == "done"


def test_a_broker_out_of_reach_fails_neither_a_submission_nor_an_activation(book, committed, analyst, monkeypatch,
                                                                            caplog):
    from kombu.exceptions import OperationalError

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.impact_preview_run_task, "delay", unreachable)
    monkeypatch.setattr(tasks.rollout_chunk_apply_task, "delay", unreachable)
    version = submitted(committed, analyst)
    assert (version.state, impact.impact_preview_latest(version=version).state) == ("submitted", "pending")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    for member in (alice, bob):
        version = parameter_services.version_approve(actor=member, version=version, content_hash=version.content_hash)
    version = committed(parameter_services.version_activate, actor=alice, version=version)
    assert version.state == "active"
    assert services.Rollout.objects.get(contract_version=version).state == "running"  # resumed when gone quiet
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert [e.split(" in on_commit() ")[1] for e in errors] == [
        "(Error 111 connecting to 127.0.0.1:1. Connection refused.)."] * 2


def test_only_a_version_awaiting_a_decision_is_previewed(book, analyst):
    draft = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    with pytest.raises(InvalidTransition) as error:
        impact.impact_preview_request(version=draft)
    assert error.value.message == (f"{draft} is draft: an impact preview is computed for a submitted, approved or "
                                   "scheduled version")
    assert impact.impact_preview_latest(version=draft).state == "none"
    assert not ImpactPreview.objects.filter(version=draft).exists()


def test_a_pending_request_is_reused_not_doubled(book, analyst):
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)  # on-commit hooks not run
    first = impact.impact_preview_request(version=version)  # the submission's own request, reused
    assert impact.impact_preview_request(version=version).pk == first.pk
    assert impact.impact_preview_latest(version=version).state == "pending"
    done = impact.impact_preview_run(preview_id=first.pk)
    assert (done.state, done.result["positions"]) == ("done", 3)
    # a second run, an hour later, leaves it as it is: a recomputation would stamp that hour
    again = impact.impact_preview_run(preview_id=first.pk, now=done.computed_at + timedelta(hours=1))
    assert (again.state, again.computed_at, again.result) == ("done", done.computed_at, done.result)
    assert list(ImpactPreview.objects.filter(version=version).values_list("pk", "computed_at", "result")) == [
        (first.pk, done.computed_at, done.result)]


def test_a_request_left_pending_too_long_is_sent_again_by_the_refresh(book, committed, analyst, settings):
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)  # its request never sent
    pending = ImpactPreview.objects.get(version=version)
    wait = timedelta(seconds=settings.IMPACT_PREVIEW_RESEND_SECONDS)
    assert committed(impact.impact_previews_refresh, now=pending.requested_at + wait - timedelta(seconds=1)) == []
    assert committed(impact.impact_previews_refresh, now=pending.requested_at + wait) == [pending]
    assert list(ImpactPreview.objects.filter(version=version).values_list("pk", "state", "requested_at")) == [
        (pending.pk, "done", pending.requested_at + wait)]


def test_a_preview_the_worker_gives_up_on_says_why(book, analyst, monkeypatch):
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)
    pending = ImpactPreview.objects.get(version=version)

    def broken(**kwargs):
        raise ValueError("no such thing")

    monkeypatch.setattr(tasks, "impact_preview_run", broken)
    assert tasks.impact_preview_run_task.apply(args=(pending.pk,), throw=False).state == "FAILURE"
    status = impact.impact_preview_latest(version=version)
    assert (status.state, status.preview.error) == (
        "failed", "the worker could not compute it: ValueError: no such thing")


def test_the_approval_page_shows_the_preview(book, committed, analyst, client):
    version = submitted(committed, analyst)
    client.force_login(UserFactory(username="alice", roles=["committee"]))
    page = client.get(f"/admin/parameters/parameterversion/{version.pk}/change/").content.decode()
    assert 'id="impact" data-state="done"' in page
    assert "<strong>2</strong> position(s) move to a worse status, 0 to a better one." in page
    assert "<tr><td>maintenance margin</td><td>8850</td><td>9675</td><td>825</td></tr>" in page
    response = client.post(f"/admin/parameters/parameterversion/{version.pk}/impact/")
    assert response.status_code == 302 and response["Location"].endswith("#impact")


@pytest.mark.postgres
def test_the_sql_and_the_engine_agree_on_a_seeded_book(active_rules, analyst):
    from django.core.management import call_command

    call_command("seed_positions", "--count", "600", "--seed", "7", stdout=open("/dev/null", "w"))
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)
    before = impact.terms_current(symbols=["BTCUSDT"])
    after = impact.terms_current(symbols=["BTCUSDT"], overrides={"BTCUSDT": version})
    by_account = attrgetter("account_id")  # one position per account and contract
    by_sql = sorted(impact._rows_sql(before, after), key=by_account)
    by_engine = sorted(impact._rows_engine(before, after), key=by_account)
    assert len({r.account_id for r in by_sql}) == len(by_sql) == 120  # of the 600 seeded
    assert by_sql == by_engine


def test_a_version_that_no_longer_validates_with_the_parameters_in_force_fails_its_preview(book, committed,
                                                                                           analyst):
    wider = edit(contract_text(), "  - min_volatility: 1.5\n    multiplier: 1.5\n",
                 "  - min_volatility: 1.5\n    multiplier: 1.75\n")
    version = submitted(committed, analyst, text=wider)  # 1.75 x global 1: valid
    assert impact.impact_preview_latest(version=version).state == "done"
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    exchange = submitted(committed, analyst, text=edit(exchange_text(), "global_multiplier: 1\n",
                                                       "global_multiplier: 1.2\n"), subject_key="exchange")
    for member in (alice, bob):
        exchange = parameter_services.version_approve(actor=member, version=exchange,
                                                      content_hash=exchange.content_hash)
    committed(parameter_services.version_activate, actor=alice, version=exchange,
              now=exchange.approved_at + timedelta(hours=5))
    # the terms are built in the band in force: the highest, where 1.75 x 1.2 breaks tier 12
    committed(services.market_data_upsert, rows=[{"symbol": "BTCUSDT", "mark_price": "60000",
                                                            "realized_volatility": "1.6"}])
    preview = impact.impact_preview_request(version=version)
    assert impact.impact_preview_run(preview_id=preview.pk).state == "failed"
    preview.refresh_from_db()
    assert preview.error == (
        "BTCUSDT v2 no longer validates with the parameters in force: tier 12: maintenance margin rate 1.0500 is not "
        "below the initial margin rate 1 under multiplier 2.100")
    assert impact.impact_preview_latest(version=version).state == "failed"
