"""An activated version starts a rollout of the parameters in force to the positions it affects."""
from __future__ import annotations

from django.dispatch import receiver

from governance.parameters.models import ParameterVersion, Subject
from governance.parameters.signals import version_activated, version_submitted
from governance.positions.impact import impact_preview_request
from governance.positions.models import Rollout
from governance.positions.services import rollout_start


@receiver(version_activated, dispatch_uid="positions.rollout_on_activation")
def rollout_on_activation(sender, *, version: ParameterVersion, now, **kwargs) -> None:
    if version.subject.kind == Subject.Kind.EXCHANGE:
        rollout_start(trigger=Rollout.Trigger.EXCHANGE, symbols=None, exchange_version=version, now=now)
    else:
        rollout_start(trigger=Rollout.Trigger.CONTRACT, symbols=[version.subject.key], contract_version=version,
                      now=now)


@receiver(version_submitted, dispatch_uid="positions.impact_preview_on_submission")
def impact_preview_on_submission(sender, *, version: ParameterVersion, now, **kwargs) -> None:
    impact_preview_request(version=version, now=now)
