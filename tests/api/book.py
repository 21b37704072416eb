"""A book for the positions API tests: rows as the position service sends them, written through
the services with their on-commit work (rollout tasks, eager here) run as a real commit would."""
from __future__ import annotations

from typing import Any, Callable

from rest_framework.test import APIClient

from governance.parameters import services as parameter_services
from governance.parameters.models import ParameterVersion
from governance.positions import services
from tests.api.conftest import token_client
from tests.parameters.conftest import approve_all
from tests.parameters.factories import UserFactory

READERS = ["consumers", "authors", "committee", "emergency"]
ANONYMOUS = {"code": "not_authenticated", "message": "Authentication credentials were not provided.",
             "details": None}


def read_denied(username: str) -> dict:
    return {"code": "permission_denied", "details": None,
            "message": f"{username} may not read the API: it needs one of the roles consumers, authors, committee, "
                       "emergency"}


# who may read the book: every reading role, not the position service, not a user without a role
READ_MATRIX = [(["consumers"], 200), (["authors"], 200), (["committee"], 200), (["emergency"], 200),
               (["position_service"], 403), ([], 403)]


def reads_check(urls: list[str], roles: list[str], status: int) -> None:
    """Each url answers `status` to a token with `roles`, the one error shape when refused, and
    401 without a token."""
    client = token_client("someone", *roles)
    for url in urls:
        response = client.get(url)
        assert response.status_code == status
        if status == 403:
            assert response.json() == read_denied("someone")
        anonymous = APIClient().get(url)
        assert (anonymous.status_code, anonymous.json()) == (401, ANONYMOUS)


def upsert_denied(username: str) -> dict:
    return {"code": "permission_denied", "details": None,
            "message": f"{username} may not upsert positions or market data: it needs one of the roles "
                       "position_service"}


def row(account: str = "A1", symbol: str = "BTCUSDT", side: str = "long", quantity: str = "10",
        entry_price: str = "60000", isolated_margin: str = "30000") -> dict[str, Any]:
    return {"account": account, "symbol": symbol, "side": side, "quantity": quantity, "entry_price": entry_price,
            "isolated_margin": isolated_margin}


def committed(capture: Callable, fn: Callable, **kwargs: Any) -> Any:
    """fn(**kwargs), then its on-commit callbacks, as a real commit would run them."""
    with capture(execute=True):
        return fn(**kwargs)


def positions_write(capture: Callable, *rows: dict) -> services.UpsertResult:
    return committed(capture, services.positions_upsert, rows=list(rows))


def marks_write(capture: Callable, **marks: str) -> list:
    return committed(capture, services.market_data_upsert,
                     rows=[{"symbol": symbol, "mark_price": mark} for symbol, mark in marks.items()])


def version_propose(text: str, *, approve: bool = True) -> ParameterVersion:
    """A new version of a contract from YAML text, submitted and (by default) approved by two."""
    analyst, alice, bob = (UserFactory(username=n) for n in ("analyst", "alice", "bob"))
    version = parameter_services.version_draft_create(actor=analyst, yaml_text=text, rationale="Tighter.")
    version = parameter_services.version_submit(actor=analyst, version=version)
    return approve_all(version, alice, bob) if approve else version


def version_activate(capture: Callable, text: str) -> ParameterVersion:
    version = version_propose(text)
    alice = UserFactory(username="alice")
    return committed(capture, parameter_services.version_activate, actor=alice, version=version)
