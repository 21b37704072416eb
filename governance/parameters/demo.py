"""Demo users for every role and the rules directory bootstrapped as active versions.

For `make run` on a fresh machine only: the passwords are printed and well known.
Bootstrapping goes through the real workflow (draft, submit, two approvals, activate),
so the audit trail of a demo database is as complete as a real one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from governance.parameters import services
from governance.parameters.models import ParameterVersion, VersionState
from governance.parameters.policy import ROLES, role_group
from governance.parameters.rulesync import NEW_DRAFT, rules_import

# username: (roles, staff: may log into the admin)
DEMO_USERS: dict[str, tuple[tuple[str, ...], bool]] = {
    "analyst": (("authors",), True),
    "alice": (("committee",), True),
    "bob": (("committee",), True),
    "carol": (("committee",), True),
    "erin": (("emergency",), True),
    "consumer": (("consumers",), False),
    "feeder": (("position_service",), False),
}
ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class DemoCredential:
    username: str
    password: str
    roles: tuple[str, ...]


def demo_password(username: str) -> str:
    return f"{username}-demo"


@transaction.atomic
def demo_users_ensure() -> list[DemoCredential]:
    """Groups named by the policy's roles, one user per role (and a superuser); passwords reset."""
    User = get_user_model()
    for role in ROLES:
        Group.objects.get_or_create(name=role_group(role))
    credentials = []
    for username, (roles, staff) in DEMO_USERS.items():
        user, _ = User.objects.get_or_create(username=username)
        user.is_staff, user.is_active = staff, True
        user.set_password(demo_password(username))
        user.save()
        user.groups.set(Group.objects.filter(name__in=[role_group(r) for r in roles]))
        credentials.append(DemoCredential(username, demo_password(username), roles))
    admin, _ = User.objects.get_or_create(username=ADMIN_USERNAME)
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin.set_password(demo_password(ADMIN_USERNAME))
    admin.save()
    credentials.append(DemoCredential(ADMIN_USERNAME, demo_password(ADMIN_USERNAME), ("superuser",)))
    return credentials


@transaction.atomic
def demo_rules_bootstrap(*, rules_dir: Path) -> list[ParameterVersion]:
    """Import the rule files and take every new draft to active through the workflow.

    A no-op once the store holds the files' content; a subject that already has any
    version is left to the committee.
    """
    User = get_user_model()
    analyst, first, second = (User.objects.get(username=n) for n in ("analyst", "alice", "bob"))
    activated = []
    for item in rules_import(actor=analyst, paths=[rules_dir], rationale="Demo bootstrap from the rules directory."):
        if item.outcome != NEW_DRAFT or item.version.number != 1:
            continue
        version = services.version_submit(actor=analyst, version=item.version)
        for member in (first, second):
            version = services.version_approve(actor=member, version=version, content_hash=version.content_hash)
        activated.append(services.version_activate(actor=first, version=version))
    return activated


def demo_active_count() -> int:
    return ParameterVersion.objects.filter(state=VersionState.ACTIVE).count()
