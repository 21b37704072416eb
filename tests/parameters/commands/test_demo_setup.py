"""`demo_setup`: a user per role with printed credentials, rules/ active through the workflow."""
import pytest
from django.contrib.auth import get_user_model

from governance.parameters.models import ParameterVersion
from governance.parameters.policy import user_has_role
from tests.parameters.commands.conftest import run

pytestmark = pytest.mark.django_db
USERS = [("analyst", "authors"), ("alice", "committee"), ("bob", "committee"), ("carol", "committee"),
         ("erin", "emergency"), ("consumer", "consumers"), ("feeder", "position_service")]


def test_demo_setup_creates_every_role_and_activates_the_rules_once():
    result = run("demo_setup")
    assert result.code == 0
    assert result.lines[0] == "demo_setup: 15 version(s) activated, 15 active in all"
    assert result.lines[1:] == ["demo users (username / password / roles):"] + [
        f"  {u:<10} {u + '-demo':<16} {r}" for u, r in USERS] + ["  admin      admin-demo       superuser"]
    User = get_user_model()
    for username, role in USERS:
        user = User.objects.get(username=username)
        assert user.check_password(f"{username}-demo") and user_has_role(user, role)
    assert User.objects.get(username="admin").is_superuser
    btc = ParameterVersion.objects.get(subject__key="BTCUSDT")
    assert (btc.state, btc.author.username,
            sorted(a.approver.username for a in btc.approvals.all())) == ("active", "analyst", ["alice", "bob"])

    again = run("demo_setup")
    assert again.lines[0] == "demo_setup: 0 version(s) activated, 15 active in all"
    assert ParameterVersion.objects.count() == 15
