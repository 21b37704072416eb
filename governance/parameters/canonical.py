"""Canonical form and content hash of rule content: what approvals and versions are bound to.

Comments, key order, quoting and trailing zeros do not change the canonical form;
any change of a value does.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Context, Decimal
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # trailing zeros only: in a context as precise as the number (the default's 28 digits
        # would round a longer one, and two different values would share a hash)
        return format(value.normalize(Context(prec=max(1, len(value.as_tuple().digits)))), "f")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(_plain(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
