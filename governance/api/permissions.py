"""Who may call what, by the roles of the governance policy (rules/policy.yaml).

Consumers (and the committee's own roles) read; the position service only upserts. Proposals
are open to any reading role at this layer: the workflow services check authors / committee /
emergency themselves, exactly as for the admin.
"""
from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from governance.parameters.policy import ROLES, role_group

READERS = ("consumers", "authors", "committee", "emergency")


def roles_of(user) -> frozenset[str]:
    """The policy roles of a user, read once per request (cached on the user object)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_api_roles", None)
    if cached is None:
        groups = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in ROLES if role_group(role) in groups)
        user._api_roles = cached
    return cached


class _HasRole(BasePermission):
    roles: tuple[str, ...] = ()
    doing = ""

    def has_permission(self, request: Request, view) -> bool:
        if request.user is None:
            return False  # DRF answers 401: not authenticated
        if roles_of(request.user) & set(self.roles):
            return True
        self.message = (f"{request.user.get_username()} may not {self.doing}: it needs one of the roles "
                        f"{', '.join(self.roles)}")
        return False


class CanRead(_HasRole):
    roles, doing = READERS, "read the API"


class IsPositionService(_HasRole):
    roles, doing = ("position_service",), "upsert positions or market data"
