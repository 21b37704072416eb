"""`demo_setup`: a user per role with printed credentials, rules/ active through the workflow."""
import shutil
from pathlib import Path

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


def test_rules_that_do_not_validate_leave_the_store_and_the_users_as_they_were(tmp_path, settings):
    shutil.copytree(Path(settings.RULES_DIR), tmp_path / "rules")
    btc = tmp_path / "rules" / "contracts" / "BTCUSDT.yaml"
    btc.write_text(btc.read_text().replace("symbol: BTCUSDT\n", "symbol: 7\n"))
    settings.RULES_DIR = str(tmp_path / "rules")
    result = run("demo_setup")
    assert (result.code, result.err.splitlines()[0]) == (1, "the rules directory does not validate:")
    assert (get_user_model().objects.count(), ParameterVersion.objects.count()) == (0, 0)


def test_a_rules_directory_without_its_policy_is_one_error_and_changes_nothing(tmp_path, settings):
    (tmp_path / "rules").mkdir()
    settings.RULES_DIR = str(tmp_path / "rules")
    result = run("demo_setup")
    assert (result.code, result.err) == (1, f"no governance policy at {tmp_path / 'rules' / 'policy.yaml'}")
    assert get_user_model().objects.count() == 0
