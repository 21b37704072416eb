"""Conditional GET of one contract's parameters now, answered before the session, CSRF,
authentication and messages middleware, URL dispatch and DRF (`ContractFastPathMiddleware`).

A poller mostly asks again for what it has: with a token this process remembers, a reading role,
and the contract's ETag remembered, the answer (a 304, or a 200 whose bytes were rendered by the
regular view for that very ETag) needs neither the database nor DRF's request machinery. It calls
the same functions as the regular path (`bearer_cached` and knox's header format, the view's
permission classes' `granted` on `roles_of_groups`, the view's throttle classes' `allow_request`,
`contract_etag_now`), and whenever one of them does not give a plain yes (no token, an unknown or
expired one, a missing role, no such contract, throttled, a body not rendered yet, a query string,
another method, an Accept header other than JSON or anything) it returns None and the regular
path answers, with its own errors: one copy of the logic, and no refusal is answered here.

The middleware sits inside SecurityMiddleware, CommonMiddleware and XFrameOptionsMiddleware, so
its answers carry the same headers as the regular path's (tests/api/test_conditional.py compares
them). A request refused by the throttle here is counted again by the regular path: its window is
already full, so that changes the count only.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from types import SimpleNamespace

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from knox.settings import knox_settings

from governance.api import selectors
from governance.api.permissions import roles_of_groups
from governance.api.tokens import bearer_cached
from governance.errors import NotFound

_PREFIX = knox_settings.AUTH_HEADER_PREFIX.lower()
ACCEPTED_PLAIN = ("*/*", "application/json")  # what the one JSON renderer answers without negotiating


def etag_matches(if_none_match: str, etag: str) -> bool:
    """`etag` (quoted) is one of the tags of an If-None-Match header."""
    return etag in [tag.strip() for tag in if_none_match.split(",")]


def response_tagged(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


class Rendered:
    """Response bodies as the regular view rendered them, by ETag: an ETag names everything its
    body is built of, so the same ETag is the same bytes. The most recent `size`, per process."""

    def __init__(self, size: int = 512):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, etag: str) -> tuple[bytes, str] | None:
        return self._items.get(etag)

    def put(self, etag: str, content: bytes, content_type: str) -> None:
        with self._lock:
            self._items[etag] = (content, content_type)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


RENDERED = Rendered()


class _Caller:
    """What DRF's throttles read of an authenticated request's user."""

    __slots__ = ("pk",)
    is_authenticated = True

    def __init__(self, pk: int):
        self.pk = pk


def contract_answer_fast(request: HttpRequest, symbol: str, view) -> HttpResponse | None:
    """The answer of `view` (the contract view) to a plain conditional GET, or None: ask `view`."""
    if request.method != "GET" or request.META.get("QUERY_STRING"):
        return None  # as_of / recorded_by (or anything else) take the regular path
    if request.META.get("HTTP_ACCEPT", "*/*") not in ACCEPTED_PLAIN:
        return None  # DRF's content negotiation decides (a 406, say)
    # split on ASCII whitespace only, as knox does (str.split() also splits on U+00A0, U+0085...)
    header = request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
    words = [word.decode("latin-1") for word in header.split()]
    if len(words) != 2 or words[0].lower() != _PREFIX:
        return None
    bearer = bearer_cached(words[1])
    if bearer is None:
        return None
    roles = roles_of_groups(bearer.groups)
    if not all(getattr(permission, "granted", lambda roles: False)(roles) for permission in view.permission_classes):
        return None
    try:
        etag = f'"{selectors.contract_etag_now(symbol)}"'
    except NotFound:
        return None
    if etag_matches(request.META.get("HTTP_IF_NONE_MATCH", ""), etag):
        response = HttpResponse(status=304)
        del response["Content-Type"]  # as DRF's empty responses
    else:
        rendered = RENDERED.get(etag)
        if rendered is None:
            return None
        response = HttpResponse(rendered[0], content_type=rendered[1])
    caller = SimpleNamespace(user=_Caller(bearer.user_id))
    if not all(throttle().allow_request(caller, None) for throttle in view.throttle_classes):
        return None
    for header, value in view.default_response_headers.items():
        response[header] = value
    return response_tagged(response, etag)


class ContractFastPathMiddleware:
    """Answers `contract_answer_fast` for the route of the contract view, else passes on."""

    def __init__(self, get_response):
        from governance.api.views import ContractDetail

        self.get_response, self.view_class, self.view = get_response, ContractDetail, ContractDetail()
        self.view.setup(None)  # as as_view() does (HEAD for GET): its `Allow` header is the regular one
        self._routes: dict[str, str | None] = {}  # path -> the symbol, for the contract view's route

    def symbol_of(self, path: str) -> str | None:
        try:
            return self._routes[path]
        except KeyError:
            pass
        try:
            match = resolve(path)
        except Resolver404:
            symbol = None
        else:
            symbol = match.kwargs.get("symbol") if getattr(match.func, "cls", None) is self.view_class else None
        if len(self._routes) >= 4096:  # bounded: a flood of paths only resolves again
            self._routes = {}
        self._routes[path] = symbol
        return symbol

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and "HTTP_AUTHORIZATION" in request.META:
            symbol = self.symbol_of(request.path_info)
            if symbol is not None:
                response = contract_answer_fast(request, symbol, self.view)
                if response is not None:
                    return response
        return self.get_response(request)
