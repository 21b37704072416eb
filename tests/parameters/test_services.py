"""Every transition of the workflow and every refusal, through the services."""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from governance.errors import InvalidTransition, PermissionDenied, PolicyViolation, StaleVersion, ValidationFailed
from governance.parameters import services
from governance.parameters.audit import audit_verify
from governance.parameters.models import Approval, AuditEntry, ParameterVersion
from governance.parameters.selectors import version_assessment
from governance.parameters.transitions import actions_available
from tests.parameters.conftest import EXCHANGE_BTC_ONLY, approve_all, contract_text, edit
from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.django_db
BTC = contract_text()
TIGHTER = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.007")  # tier 3 up
LOOSER_SMALL = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.006")  # -7.7%
LOOSER_LARGE = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.0045")  # -30.8%
LOOSER_LARGE = edit(LOOSER_LARGE, "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0045\n")


def draft(actor, text=BTC, **kwargs):
    return services.version_draft_create(actor=actor, yaml_text=text, rationale="Because.", **kwargs)


def submitted(actor, text=BTC):
    return services.version_submit(actor=actor, version=draft(actor, text))


def test_first_version_goes_from_draft_to_active(analyst, alice, bob):
    version = submitted(analyst)
    assert (version.number, version.state, version.based_on) == (1, "submitted", None)
    version = services.version_approve(actor=alice, version=version, content_hash=version.content_hash)
    assert version.state == "submitted"  # 1 of 2
    version = services.version_approve(actor=bob, version=version, content_hash=version.content_hash)
    assert (version.state, version.approved_at is not None) == ("approved", True)
    version = services.version_activate(actor=alice, version=version)
    assert version.state == "active" and version.activated_at == version.effective_at
    assert [e.action for e in AuditEntry.objects.order_by("sequence")] == [
        "draft_created", "submitted", "approval_given", "approval_given", "approved", "activated"]
    assert audit_verify() == (6, [])


def test_an_invalid_draft_is_kept_but_cannot_be_submitted_until_fixed(analyst):
    version = draft(analyst, edit(BTC, "cap: 50000\n", "cap: fifty\n"))
    with pytest.raises(ValidationFailed) as raised:
        services.version_submit(actor=analyst, version=version)
    assert raised.value.message == ("BTCUSDT v1 does not validate: 1 error(s); first: rules/contracts/BTCUSDT.yaml"
                                    ":11:10: tiers[0].cap: expected a number, got 'fifty'")
    assert raised.value.details[0] | {"text": ""} == {"line": 11, "column": 10, "path": "tiers[0].cap",
                                                      "message": "expected a number, got 'fifty'", "text": ""}
    version.refresh_from_db()
    assert version.state == "draft"
    version = services.version_draft_update(actor=analyst, version=version, yaml_text=BTC)
    assert services.version_submit(actor=analyst, version=version).state == "submitted"


def test_the_author_can_never_approve_their_own_version(alice):
    author = UserFactory(username="both", roles=["authors", "committee"])
    version = submitted(author)
    with pytest.raises(PermissionDenied) as raised:
        services.version_approve(actor=author, version=version, content_hash=version.content_hash)
    assert raised.value.message == "both wrote BTCUSDT v1 and may not approve it (four eyes)"
    assert Approval.objects.count() == 0


def test_a_member_approves_once(analyst, alice):
    version = submitted(analyst)
    services.version_approve(actor=alice, version=version, content_hash=version.content_hash)
    with pytest.raises(InvalidTransition) as raised:
        services.version_approve(actor=alice, version=version, content_hash=version.content_hash)
    assert raised.value.message == "alice has already approved BTCUSDT v1"
    assert Approval.objects.count() == 1


def test_approvals_belong_to_the_content_reviewed(analyst, alice):
    version = submitted(analyst)
    with pytest.raises(PolicyViolation) as raised:
        services.version_approve(actor=alice, version=version, content_hash="0" * 64)
    assert raised.value.message.startswith("the content of BTCUSDT v1 is not the content you reviewed")


def test_only_committee_members_approve(analyst, analyst2):
    version = submitted(analyst)
    with pytest.raises(PermissionDenied) as raised:
        services.version_approve(actor=analyst2, version=version, content_hash=version.content_hash)
    assert raised.value.message == ("analyst2 may not approve BTCUSDT v1: it needs the committee role "
                                    "(group 'risk-committee')")


def test_only_authors_draft_and_only_the_author_edits(analyst, analyst2, outsider):
    with pytest.raises(PermissionDenied) as raised:
        draft(outsider)
    assert raised.value.message == ("mallory may not draft a parameter change: it needs the authors role "
                                    "(group 'analysts')")
    version = draft(analyst)
    with pytest.raises(PermissionDenied) as raised:
        services.version_draft_update(actor=analyst2, version=version, yaml_text=TIGHTER)
    assert raised.value.message == "only the author (analyst) may edit BTCUSDT v1"


def test_content_is_frozen_from_submission_on(analyst):
    version = submitted(analyst)
    with pytest.raises(InvalidTransition) as raised:
        services.version_draft_update(actor=analyst, version=version, yaml_text=TIGHTER)
    assert raised.value.message == "cannot edit BTCUSDT v1: it is submitted (only from draft)"
    with pytest.raises(DatabaseError), transaction.atomic():  # and the database refuses it too
        ParameterVersion.objects.filter(pk=version.pk).update(yaml_text=TIGHTER)
    version.refresh_from_db()
    assert version.yaml_text == BTC


def test_the_database_allows_one_active_version_per_contract(activate, analyst):
    first = activate(BTC)
    other = draft(analyst, TIGHTER)
    with pytest.raises(IntegrityError), transaction.atomic():
        ParameterVersion.objects.filter(pk=other.pk).update(state="active", activated_at=timezone.now())
    assert list(ParameterVersion.objects.filter(state="active")) == [first]


def test_a_stale_version_must_be_rebased_and_loses_its_approvals(activate, analyst, analyst2, alice, bob, carol):
    v1 = activate(BTC)
    v2 = submitted(analyst, TIGHTER)
    services.version_approve(actor=carol, version=v2, content_hash=v2.content_hash)
    v3 = services.version_submit(actor=analyst2, version=draft(analyst2, edit(BTC, "description: Bitcoin", "description: The Bitcoin")))
    services.version_activate(actor=alice, version=approve_all(v3, alice, bob))
    with pytest.raises(StaleVersion) as raised:
        services.version_approve(actor=alice, version=v2, content_hash=v2.content_hash)
    assert raised.value.message == ("BTCUSDT v2 is based on v1, but another version became active since: "
                                    "rebase it before you approve it")
    v2 = services.version_rebase(actor=analyst, version=v2)
    assert v2.based_on.number == 3
    assert v2.approvals.filter(revoked_at__isnull=True).count() == 0
    v2 = approve_all(v2, alice, bob)
    assert v2.state == "approved"
    assert v1.pk != v2.based_on_id


def test_a_loosening_beyond_its_step_needs_the_larger_quorum_and_the_notice(activate, analyst, alice, bob, carol):
    activate(BTC)
    version = submitted(analyst, LOOSER_LARGE)
    assessment = version_assessment(version)
    assert (assessment.required_approvals, assessment.notice_hours, assessment.loosening_beyond_step) == (3, 24, True)
    version = approve_all(version, alice, bob)
    assert version.state == "submitted"  # 2 of 3
    version = approve_all(version, carol)
    assert version.state == "approved"
    with pytest.raises(PolicyViolation) as raised:
        services.version_activate(actor=alice, version=version)
    due = version.approved_at + timedelta(hours=24)
    assert raised.value.message == f"BTCUSDT v2 may not take effect before {due.isoformat()}"
    version = services.version_activate(actor=alice, version=version, now=due)
    assert version.state == "active"


def test_a_version_never_returns_to_draft_where_its_content_could_change(analyst, alice, bob):
    version = approve_all(submitted(analyst), alice, bob)
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        ParameterVersion.objects.filter(pk=version.pk).update(state="draft")
    assert "cannot return to draft" in str(raised.value)


def test_activation_counts_the_approvals_of_the_content_again(activate, analyst, alice, bob):
    activate(BTC)
    version = submitted(analyst, TIGHTER)
    # behind the services' back: a state set by hand, with no approval given
    ParameterVersion.objects.filter(pk=version.pk).update(state="approved", approved_at=timezone.now())
    version.refresh_from_db()
    with pytest.raises(PolicyViolation) as raised:
        services.version_activate(actor=alice, version=version)
    assert raised.value.message == "BTCUSDT v2 has 0 approval(s) of its content, 2 required: it cannot take effect"
    version.refresh_from_db()
    assert version.state == "approved"


STEP_1 = edit(BTC, "maintenance_margin_rate: 0.004\n", "maintenance_margin_rate: 0.003\n")  # tier 1: -25%
STEP_2 = edit(STEP_1, "maintenance_margin_rate: 0.003\n", "maintenance_margin_rate: 0.00225\n")  # -25%, -43.75% from v1


def test_a_loosening_split_into_steps_is_judged_as_the_move_it_adds_up_to(activate, analyst, alice, bob, carol,
                                                                          client):
    activate(BTC)
    v2 = approve_all(submitted(analyst, STEP_1), alice, bob)
    assert (v2.state, version_assessment(v2).required_approvals) == ("approved", 2)  # within its step
    services.version_activate(actor=alice, version=v2, now=v2.approved_at + timedelta(hours=24))
    v3 = approve_all(submitted(analyst, STEP_2), alice, bob)
    assessment = version_assessment(v3)
    assert (v3.state, assessment.required_approvals, assessment.notice_hours, assessment.beyond_step_since) == (
        "submitted", 3, 24, 1)  # beyond its step from v1, in force within the week
    client.force_login(carol)
    page = client.get(f"/admin/parameters/parameterversion/{v3.pk}/change/").content.decode()
    assert ('<strong id="approval-count">2 of 3</strong> approvals required (a loosening beyond its step bound '
            "from v1, in force within the policy's step window); 1 more needed.") in page
    assert approve_all(v3, carol).state == "approved"


def test_a_version_in_force_before_the_step_window_no_longer_counts(activate, analyst, alice, bob):
    v1 = activate(BTC)
    v2 = approve_all(submitted(analyst, STEP_1), alice, bob)
    services.version_activate(actor=alice, version=v2, now=v2.approved_at + timedelta(hours=24))
    ParameterVersion.objects.filter(pk=v1.pk).update(superseded_at=timezone.now() - timedelta(hours=169))
    v3 = approve_all(submitted(analyst, STEP_2), alice, bob)
    assert (v3.state, version_assessment(v3).beyond_step_since) == ("approved", None)


def test_a_small_loosening_needs_the_standard_quorum_and_the_notice(activate, analyst, alice, bob):
    activate(BTC)
    version = approve_all(submitted(analyst, LOOSER_SMALL), alice, bob)
    assert version.state == "approved"
    assert version_assessment(version).notice_hours == 24
    with pytest.raises(PolicyViolation):
        services.version_activate(actor=alice, version=version)


def test_a_tightening_takes_effect_at_once_with_the_standard_quorum(activate, analyst, alice, bob):
    v1 = activate(BTC)
    v2 = approve_all(submitted(analyst, TIGHTER), alice, bob)
    v2 = services.version_activate(actor=bob, version=v2)
    v1.refresh_from_db()
    assert (v1.state, v2.state) == ("superseded", "active")
    assert v1.superseded_at == v2.activated_at


def test_a_version_scheduled_for_the_end_of_its_window_takes_effect_rather_than_expire(activate, analyst, alice,
                                                                                         bob):
    activate(BTC)
    version = approve_all(submitted(analyst, TIGHTER), alice, bob)
    last_moment = version.approved_at + timedelta(hours=168)
    version = services.version_schedule(actor=alice, version=version, effective_at=last_moment)
    # the expiry sweep runs 10 s after the effective time, before the next activation run
    assert services.versions_expire_due(now=last_moment + timedelta(seconds=10)) == []
    version.refresh_from_db()
    assert (version.state, version.activated_at) == ("active", last_moment + timedelta(seconds=10))


def test_an_approval_past_its_window_cannot_be_activated_by_hand(activate, analyst, alice, bob):
    activate(BTC)
    version = approve_all(submitted(analyst, TIGHTER), alice, bob)
    deadline = version.approved_at + timedelta(hours=168)
    with pytest.raises(PolicyViolation) as raised:
        services.version_activate(actor=alice, version=version, now=deadline + timedelta(seconds=1))
    assert raised.value.message == (f"BTCUSDT v2's approval expired at {deadline.isoformat()}: "
                                    "it can no longer take effect")


def test_rejection_needs_a_reason_and_a_member_other_than_the_author(analyst, alice):
    version = submitted(analyst)
    with pytest.raises(ValidationFailed) as raised:
        services.version_reject(actor=alice, version=version, reason="  ")
    assert raised.value.message == "a rejection needs a reason"
    version = services.version_reject(actor=alice, version=version, reason="Tier 3 too tight for market makers.")
    assert (version.state, version.reason) == ("rejected", "Tier 3 too tight for market makers.")
    with pytest.raises(InvalidTransition) as raised:
        services.version_approve(actor=alice, version=version, content_hash=version.content_hash)
    assert raised.value.message == "cannot approve BTCUSDT v1: it is rejected (only from submitted)"


def test_withdraw_by_author_and_cancel_by_committee(activate, analyst, analyst2, alice, bob):
    version = services.version_withdraw(actor=analyst, version=submitted(analyst), reason="Wrong table.")
    assert version.state == "withdrawn"
    activate(edit(BTC, "description: Bitcoin", "description: The Bitcoin"))
    scheduled = approve_all(submitted(analyst, LOOSER_SMALL), alice, bob)
    with pytest.raises(PermissionDenied) as raised:
        services.version_withdraw(actor=analyst2, version=scheduled)
    assert raised.value.message == "analyst2 may not cancel BTCUSDT v3: it needs the committee role (group 'risk-committee')"
    assert services.version_withdraw(actor=alice, version=scheduled, reason="Market too volatile.").state == "withdrawn"


def test_an_author_who_left_the_authors_cannot_withdraw_what_the_committee_approved(activate, analyst, alice,
                                                                                     bob):
    activate(edit(BTC, "description: Bitcoin", "description: The Bitcoin"))
    approved = approve_all(submitted(analyst, LOOSER_SMALL), alice, bob)
    analyst.groups.clear()
    with pytest.raises(PermissionDenied) as raised:
        services.version_withdraw(actor=analyst, version=approved, reason="x")
    assert raised.value.message == ("analyst may not withdraw BTCUSDT v2: it needs the authors role "
                                    "(group 'analysts')")
    approved.refresh_from_db()
    assert approved.state == "approved"


@pytest.mark.parametrize("text, message", [
    ("a\x00b", "must not contain a NUL character"),
    ("a\ud800b", "must be valid Unicode text (it holds a lone surrogate)"),
])
def test_a_reason_or_comment_the_database_cannot_hold_is_refused_before_anything_is_written(analyst, alice,
                                                                                               text, message):
    version = submitted(analyst)
    entries = AuditEntry.objects.count()
    calls = {
        "comment": lambda: services.version_approve(actor=alice, version=version, content_hash=version.content_hash,
                                                    comment=text),
        "reason": lambda: services.version_reject(actor=alice, version=version, reason=text),
    }
    for path, call in calls.items():
        with pytest.raises(ValidationFailed) as raised:
            call()
        assert (raised.value.message, raised.value.details) == (f"{path}: {message}", [{"path": path,
                                                                                        "message": message}])
    with pytest.raises(ValidationFailed) as raised:
        services.version_withdraw(actor=analyst, version=version, reason=text)
    assert raised.value.message == f"reason: {message}"
    with pytest.raises(ValidationFailed) as raised:
        services.version_draft_create(actor=analyst, yaml_text=TIGHTER, rationale=text)
    assert raised.value.message == f"rationale: {message}"
    assert (AuditEntry.objects.count(), Approval.objects.count()) == (entries, 0)
    version.refresh_from_db()
    assert version.state == "submitted"


def test_scheduling_respects_notice_and_the_beat_task_activates_when_due(activate, analyst, alice, bob):
    activate(BTC)
    version = approve_all(submitted(analyst, LOOSER_SMALL), alice, bob)
    too_early = version.approved_at + timedelta(hours=1)
    with pytest.raises(PolicyViolation) as raised:
        services.version_schedule(actor=alice, version=version, effective_at=too_early)
    assert raised.value.message.startswith("BTCUSDT v2 may take effect at ")
    assert raised.value.message.endswith(" at the earliest (notice of 24 h after approval)")
    effective = version.approved_at + timedelta(hours=30)
    version = services.version_schedule(actor=alice, version=version, effective_at=effective)
    assert version.state == "scheduled"
    assert services.versions_activate_due(now=effective - timedelta(seconds=1)) == []
    assert [v.pk for v in services.versions_activate_due(now=effective)] == [version.pk]
    version.refresh_from_db()
    assert (version.state, version.activated_at) == ("active", effective)
    assert AuditEntry.objects.filter(action="activated", version=version, actor__isnull=True).count() == 1


def test_an_approved_version_not_activated_in_time_expires(activate, analyst, alice, bob):
    activate(BTC)
    version = approve_all(submitted(analyst, LOOSER_SMALL), alice, bob)
    assert services.versions_expire_due(now=version.approved_at + timedelta(hours=167)) == []
    expired = services.versions_expire_due(now=version.approved_at + timedelta(hours=169))
    assert [v.pk for v in expired] == [version.pk]
    version.refresh_from_db()
    assert version.state == "expired"


def test_emergency_tightening_activates_at_once_and_waits_for_ratification(activate, analyst, alice, bob, erin):
    activate(BTC)
    version = submitted(analyst, TIGHTER)
    version = services.version_emergency_activate(actor=erin, version=version, reason="Flash crash.")
    assert (version.state, version.emergency, version.unratified) == ("active", True, True)
    assert AuditEntry.objects.get(action="emergency_activated").reason == "Flash crash."  # in the chain
    version = services.version_ratify(actor=alice, version=version)
    assert version.unratified
    version = services.version_ratify(actor=bob, version=version)
    assert not version.unratified and version.ratified_at is not None


def test_the_emergency_path_cannot_loosen(activate, analyst, erin):
    activate(BTC)
    version = submitted(analyst, LOOSER_SMALL)
    with pytest.raises(PolicyViolation) as raised:
        services.version_emergency_activate(actor=erin, version=version, reason="Please.")
    assert raised.value.message == "BTCUSDT v2 is not a tightening only: the emergency path cannot activate it"


def test_a_change_no_guardrail_can_compare_gets_the_strictest_treatment(activate, analyst, erin):
    activate(BTC)
    # a tighter tier to pass as "tightening only", with every notional cut tenfold
    version = submitted(analyst, edit(TIGHTER, "contract_size: 1\n", "contract_size: 0.1\n"))
    assessment = version_assessment(version)
    assert [(c.path, c.parameter, c.direction, c.beyond_step) for c in assessment.changes] == [
        ("contract_size", "structure", "loosening", True),
        ("tiers[2].maintenance_margin_rate", "maintenance_margin_rate", "tightening", False)]
    assert (assessment.required_approvals, assessment.notice_hours, assessment.tightening_only) == (3, 24, False)
    with pytest.raises(PolicyViolation, match="^BTCUSDT v2 is not a tightening only: the emergency path"):
        services.version_emergency_activate(actor=erin, version=version, reason="Please.")


def test_a_band_threshold_moves_under_its_guardrail(activate, analyst):
    activate(BTC)
    later = version_assessment(submitted(analyst, edit(BTC, "min_volatility: 0.6\n", "min_volatility: 0.9\n")))
    assert [(c.path, c.parameter, c.direction, c.beyond_step) for c in later.changes] == [
        ("volatility_bands[1].min_volatility", "volatility_threshold", "loosening", True)]
    assert (later.required_approvals, later.notice_hours) == (3, 24)
    sooner = edit(BTC, "min_volatility: 0.6\n", "min_volatility: 0.5\n")  # the surcharge applies sooner
    sooner = version_assessment(submitted(analyst, edit(sooner, "description: ", "description: Sooner. ")))
    assert [(c.path, c.direction) for c in sooner.changes] == [
        ("description", "neutral"), ("volatility_bands[1].min_volatility", "tightening")]
    assert (sooner.required_approvals, sooner.notice_hours, sooner.tightening_only) == (2, 0, True)


def test_rollback_copies_an_earlier_version_under_the_lighter_policy(activate, analyst, alice, bob):
    v1 = activate(BTC)
    services.version_activate(actor=alice, version=approve_all(submitted(analyst, TIGHTER), alice, bob))
    v3 = services.version_rollback_draft(actor=analyst, version=v1)
    assert (v3.number, v3.rollback_of, v3.yaml_text, v3.content_hash) == (3, v1, v1.yaml_text, v1.content_hash)
    v3 = services.version_submit(actor=analyst, version=v3)
    assessment = version_assessment(v3)
    assert (assessment.rollback, assessment.required_approvals, assessment.notice_hours) == (True, 1, 0)
    v3 = approve_all(v3, bob)
    assert services.version_activate(actor=bob, version=v3).state == "active"


def test_restoring_older_content_than_the_last_change_is_judged_by_the_guardrails(activate, analyst, alice, bob):
    v1 = activate(BTC)
    services.version_activate(actor=alice, version=approve_all(submitted(analyst, TIGHTER), alice, bob))
    tightest = edit(TIGHTER, "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0055\n")
    v3 = services.version_activate(actor=alice, version=approve_all(submitted(analyst, tightest), alice, bob))
    older = services.version_submit(actor=analyst, version=services.version_rollback_draft(actor=analyst, version=v1))
    assessment = version_assessment(older)  # two changes undone at once: a loosening like any other
    assert (assessment.rollback, assessment.required_approvals, assessment.notice_hours) == (False, 2, 24)
    services.version_withdraw(actor=analyst, version=older, reason="One step at a time.")
    v2 = ParameterVersion.objects.get(subject=v3.subject, number=2)
    last = services.version_submit(actor=analyst, version=services.version_rollback_draft(actor=analyst, version=v2))
    assessment = version_assessment(last)
    assert (assessment.rollback, assessment.required_approvals, assessment.notice_hours) == (True, 1, 0)


def test_submitting_the_active_content_again_is_refused(activate, analyst):
    activate(BTC)
    with pytest.raises(PolicyViolation) as raised:
        submitted(analyst, BTC + "# only a comment differs\n")
    assert raised.value.message == "BTCUSDT v2 has the same content as the active BTCUSDT v1: nothing to change"


def test_actions_available_lists_exactly_what_a_user_may_do_now(analyst, alice):
    version = submitted(analyst)
    now = timezone.now()
    assert [a for a, why in actions_available(version=version, user=alice, now=now).items() if why is None] == [
        "reject", "approve"]
    assert [a for a, why in actions_available(version=version, user=analyst, now=now).items() if why is None] == [
        "withdraw"]


# --- exchange-wide multipliers against the contracts they apply to ----------------------------

EXCHANGE = EXCHANGE_BTC_ONLY
BTC_WIDER_BAND = edit(BTC, "  - min_volatility: 1.5\n    multiplier: 1.5\n", "  - min_volatility: 1.5\n    multiplier: 1.6\n")


def test_an_exchange_version_that_would_invalidate_an_active_contract_cannot_be_submitted(activate, analyst):
    activate(BTC)  # tier 12: leverage 1, maintenance 0.5; largest band 1.5
    version = draft(analyst, edit(EXCHANGE, "global_multiplier: 1\n", "global_multiplier: 1.4\n"),
                    subject_key="exchange")
    with pytest.raises(ValidationFailed) as raised:
        services.version_submit(actor=analyst, version=version)
    assert raised.value.message == (
        "exchange v1 does not validate: 1 error(s); first: rules/exchange.yaml:2:20: global_multiplier: contract "
        "BTCUSDT tier 12: under the largest multiplier 2.10 (volatility band 1.5 x global 1.4 x group majors 1) "
        "the maintenance margin rate 0.5 becomes 1.050, not below the initial margin rate 1 (100% of notional)")
    version.refresh_from_db()
    assert version.state == "draft"
    ok = draft(analyst, edit(EXCHANGE, "global_multiplier: 1\n", "global_multiplier: 1.3\n"), subject_key="exchange")
    assert services.version_submit(actor=analyst, version=ok).state == "submitted"  # 1.5 x 1.3 = 1.95


def test_an_approved_version_that_no_longer_validates_is_not_activated(activate, analyst, alice, bob, caplog):
    activate(BTC)
    activate(EXCHANGE, subject_key="exchange")
    wider = approve_all(submitted(analyst, BTC_WIDER_BAND), alice, bob)  # 1.6 x 1: valid when approved
    wider = services.version_schedule(actor=alice, version=wider, effective_at=wider.approved_at + timedelta(days=2))
    tighter = approve_all(services.version_submit(actor=analyst, version=draft(
        analyst, edit(EXCHANGE, "global_multiplier: 1\n", "global_multiplier: 1.25\n"), subject_key="exchange")),
        alice, bob)
    later = timezone.now() + timedelta(days=2)
    services.version_activate(actor=alice, version=tighter, now=later)  # 1.5 x 1.25: BTCUSDT v1 stays valid
    with pytest.raises(ValidationFailed) as raised:
        services.version_activate(actor=alice, version=wider, now=later)
    assert raised.value.message == (
        "BTCUSDT v2 does not validate: 1 error(s); first: rules/contracts/BTCUSDT.yaml:57:30: "
        "tiers[11].maintenance_margin_rate: under the largest multiplier 2.000 (volatility band 1.6 x global 1.25 x "
        "group majors 1) the maintenance margin rate 0.5 becomes 1.0000, not below the initial margin rate 1 "
        "(100% of notional)")
    assert services.versions_activate_due(now=later) == []
    wider.refresh_from_db()
    assert wider.state == "scheduled"  # until it expires, or is withdrawn
    assert caplog.messages[-1].startswith("scheduled BTCUSDT v2 not activated: BTCUSDT v2 does not validate: ")
