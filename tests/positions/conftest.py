"""A book on the rules/ parameters: every contract active through the workflow, demo users."""
from pathlib import Path

import pytest
from django.conf import settings

from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure


@pytest.fixture
def active_rules(db, django_capture_on_commit_callbacks):
    demo_users_ensure()
    with django_capture_on_commit_callbacks(execute=True):
        demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))


@pytest.fixture
def dispatched(monkeypatch):
    """The chunks and final steps rollouts send to the workers, kept here to run by hand."""
    from governance.positions import services

    sent = {"chunks": [], "finish": []}
    monkeypatch.setattr(services, "_dispatch_chunks", lambda ids: sent["chunks"].extend(ids))
    monkeypatch.setattr(services, "_dispatch_finish", lambda pk: sent["finish"].append(pk))
    return sent
