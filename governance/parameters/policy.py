"""The governance policy in force (rules/policy.yaml) and the roles it names."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from governance.errors import DomainError, PermissionDenied
from governance.rulefiles import PolicyRules, ruleset_load

ROLES = ("authors", "committee", "emergency", "consumers", "position_service")
_cache: dict[tuple[str, float], PolicyRules] = {}


class PolicyUnavailable(DomainError):
    code, http_status = "policy_unavailable", 503


def policy_current() -> PolicyRules:
    """The policy file of RULES_DIR, validated; re-read when the file changes."""
    path = Path(settings.RULES_DIR) / "policy.yaml"
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise PolicyUnavailable(f"no governance policy at {path}") from None
    if key not in _cache:
        ruleset = ruleset_load([path])
        if ruleset.errors or ruleset.policy is None:
            first = ruleset.errors[0] if ruleset.errors else "not a policy file"
            raise PolicyUnavailable(f"the governance policy does not validate: {first}")
        _cache.clear()
        _cache[key] = ruleset.policy
    return _cache[key]


def role_group(role: str) -> str:
    return getattr(policy_current().roles, role)


def user_has_role(user: AbstractBaseUser | None, role: str) -> bool:
    if user is None or not user.is_active:
        return False
    return user.groups.filter(name=role_group(role)).exists()


def role_require(user: AbstractBaseUser | None, role: str, doing: str) -> None:
    if not user_has_role(user, role):
        who = getattr(user, "username", "anonymous")
        raise PermissionDenied(f"{who} may not {doing}: it needs the {role} role (group '{role_group(role)}')")
