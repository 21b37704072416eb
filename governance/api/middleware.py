"""Django's CommonMiddleware, adapted to the API."""
from __future__ import annotations

from django.http import HttpRequest
from django.middleware.common import CommonMiddleware


class ApiCommonMiddleware(CommonMiddleware):
    """Adds the missing slash by a redirect, except for a request under /api/ that is not a GET
    or HEAD: a client following the 301 sends it again as a GET, so a POST to
    /api/v1/proposals would list the proposals, answer 200 and create nothing. It gets the
    API's JSON 404 instead, which names the path with its slash."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if request.path_info.startswith("/api/") and request.method not in ("GET", "HEAD"):
            return False
        return super().should_redirect_with_slash(request)
