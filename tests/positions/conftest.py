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
