"""Domain errors: each carries a stable code and the HTTP status it maps to.

Services raise these; the admin shows their message, the API (one handler) turns
them into `{"code", "message", "details"}` with `http_status`, commands print the
message. Anything else is a bug and is never swallowed.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, details: Any = None):
        self.message = message
        self.details = details
        super().__init__(message)


class NotFound(DomainError):
    code, http_status = "not_found", 404


class PermissionDenied(DomainError):
    code, http_status = "permission_denied", 403


class ValidationFailed(DomainError):
    """Rule content that does not validate; `details` lists the located errors."""

    code, http_status = "validation_failed", 400


class InvalidTransition(DomainError):
    code, http_status = "invalid_transition", 409


class ContentFrozen(DomainError):
    code, http_status = "content_frozen", 409


class StaleVersion(DomainError):
    code, http_status = "stale_version", 409


class PolicyViolation(DomainError):
    code, http_status = "policy_violation", 422


class Busy(DomainError):
    """Concurrent writers kept colliding (PostgreSQL broke a deadlock): nothing was written."""

    code, http_status = "busy", 503
