"""The periodic tasks: thin calls of the due-version services, run eagerly and by a real worker."""
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from governance.celery import app as celery_app
from governance.parameters import services
from governance.parameters.models import ParameterVersion
from governance.parameters.tasks import versions_activate_due_task, versions_expire_due_task
from tests.parameters.conftest import approve_all, contract_text
from tests.services import RABBITMQ, REDIS
from tests.workers import wait_until, worker_running


def scheduled(analyst, alice, bob, *, effective_in: timedelta) -> ParameterVersion:
    version = services.version_draft_create(actor=analyst, yaml_text=contract_text(), rationale="Initial.")
    version = approve_all(services.version_submit(actor=analyst, version=version), alice, bob)
    return services.version_schedule(actor=alice, version=version, effective_at=timezone.now() + effective_in)


@pytest.mark.django_db
def test_the_task_activates_what_is_due_and_leaves_the_rest(analyst, alice, bob, analyst2):
    due = scheduled(analyst, alice, bob, effective_in=timedelta(seconds=1))
    later = services.version_draft_create(actor=analyst2, yaml_text=contract_text("ETHUSDT"), rationale="ETH.")
    later = services.version_schedule(
        actor=alice, version=approve_all(services.version_submit(actor=analyst2, version=later), alice, bob),
        effective_at=timezone.now() + timedelta(hours=1))
    ParameterVersion.objects.filter(pk=due.pk).update(effective_at=timezone.now() - timedelta(seconds=1))

    assert versions_activate_due_task.apply().get() == ["BTCUSDT v1"]
    assert ParameterVersion.objects.get(pk=due.pk).state == "active"
    assert ParameterVersion.objects.get(pk=later.pk).state == "scheduled"
    assert versions_activate_due_task.apply().get() == []


@pytest.mark.django_db
def test_the_expiry_task_expires_approvals_past_the_window(analyst, alice, bob):
    version = scheduled(analyst, alice, bob, effective_in=timedelta(hours=1))
    ParameterVersion.objects.filter(pk=version.pk).update(approved_at=timezone.now() - timedelta(hours=169))
    assert versions_expire_due_task.apply().get() == ["BTCUSDT v1"]
    assert ParameterVersion.objects.get(pk=version.pk).state == "expired"


def test_beat_runs_the_periodic_tasks_and_they_are_registered():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {name: entry["task"] for name, entry in schedule.items()} == {
        "activate-due-versions": "parameters.versions_activate_due",
        "expire-due-versions": "parameters.versions_expire_due",
        "resume-rollouts": "positions.rollouts_resume",
        "refresh-impact-previews": "positions.impact_previews_refresh",
        "delete-expired-tokens": "api.tokens_expired_delete",
    }
    celery_app.loader.import_default_modules()
    assert {entry["task"] for entry in schedule.values()} <= set(celery_app.tasks)
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.parametrize("broker", [pytest.param(REDIS, marks=pytest.mark.redis, id="redis"),
                                    pytest.param(RABBITMQ, marks=pytest.mark.rabbitmq, id="rabbitmq")])
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_activates_a_due_version_sent_over_the_broker(broker, analyst, alice, bob):
    version = scheduled(analyst, alice, bob, effective_in=timedelta(seconds=1))
    ParameterVersion.objects.filter(pk=version.pk).update(effective_at=timezone.now() - timedelta(seconds=1))
    with worker_running(broker.url) as app:
        app.send_task("parameters.versions_activate_due")
        wait_until(lambda: ParameterVersion.objects.get(pk=version.pk).state == "active",
                   what=f"the worker on {broker.name} to activate {version}")
