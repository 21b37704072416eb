"""Who may call what, by the roles of the governance policy (rules/policy.yaml).

Consumers (and the committee's own roles) read; the position service only upserts. Proposals
are open to any reading role at this layer: the workflow services check authors / committee /
emergency themselves, exactly as for the admin.
"""
from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from governance.parameters.policy import ROLES, policy_current

READERS = ("consumers", "authors", "committee", "emergency")


def groups_of(user) -> frozenset[str]:
    """The names of a user's groups, read once per request (kept on the user object; a user
    from the token cache comes with them)."""
    groups = getattr(user, "_api_groups", None)
    if groups is None:
        groups = frozenset(user.groups.values_list("name", flat=True))
        user._api_groups = groups
    return groups


def roles_of_groups(groups: frozenset[str]) -> frozenset[str]:
    """The policy roles these groups give, by the policy in force (re-read when its file changes)."""
    names = policy_current().roles
    return frozenset(role for role in ROLES if getattr(names, role) in groups)


def roles_of(user) -> frozenset[str]:
    """The policy roles of a user."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    return roles_of_groups(groups_of(user))


class _HasRole(BasePermission):
    roles: tuple[str, ...] = ()
    doing = ""

    @classmethod
    def granted(cls, roles: frozenset[str]) -> bool:
        return not roles.isdisjoint(cls.roles)

    def has_permission(self, request: Request, view) -> bool:
        if request.user is None:
            return False  # DRF answers 401: not authenticated
        if self.granted(roles_of(request.user)):
            return True
        self.message = (f"{request.user.get_username()} may not {self.doing}: it needs one of the roles "
                        f"{', '.join(self.roles)}")
        return False


class CanRead(_HasRole):
    roles, doing = READERS, "read the API"


class IsPositionService(_HasRole):
    roles, doing = ("position_service",), "upsert positions or market data"
