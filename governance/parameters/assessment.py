"""How a proposed version differs from the active one, judged by the policy's guardrails.

Pure: works on parsed rule data and the policy document, no database. The diff is
field by field (`tiers[2].maintenance_margin_rate: old -> new`); each changed field
that a guardrail covers is classified as tightening or loosening, its step measured
against the guardrail's bound, and the whole change gets its required approvals and
minimum notice:
- a rollback to previously active content: `approvals.rollback`, no notice;
- any loosening beyond its step bound, or a guarded field added or removed (a
  restructured table cannot be compared field by field, so it is treated as the
  largest kind of change): `approvals.loosening_beyond_step` and the notice;
- otherwise `approvals.standard`; the notice applies only to loosening fields.
Tightening is never step-bounded: it only protects the exchange.

A changed field no guardrail covers is judged by what it is: words (description, rationale,
references) and fields a guarded one already judges (a tier's floor is the cap below it, a
group's multiplier and members are each contract's group multiplier) are neutral; anything else
(contract size, tick size, settlement asset, a guarded field the policy has no guardrail for)
changes what the numbers mean, and gets the strictest treatment, like a restructured table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from governance.margin.numbers import CONTEXT  # exact to 80 digits, as the engine
from governance.rulefiles import Guardrail, PolicyRules

TIGHTENING, LOOSENING, NEUTRAL = "tightening", "loosening", "neutral"

_GUARDED = [
    (re.compile(r"tiers\[\d+\]\.maintenance_margin_rate"), "contract", "maintenance_margin_rate"),
    (re.compile(r"tiers\[\d+\]\.max_leverage"), "contract", "max_leverage"),
    (re.compile(r"tiers\[\d+\]\.cap"), "contract", "notional_cap"),
    (re.compile(r"volatility_bands\[\d+\]\.multiplier"), "contract", "volatility_multiplier"),
    (re.compile(r"volatility_bands\[\d+\]\.min_volatility"), "contract", "volatility_threshold"),
    (re.compile(r"margin_call_threshold"), "contract", "margin_call_threshold"),
    (re.compile(r"global_multiplier"), "exchange", "global_multiplier"),
    (re.compile(r"group_multiplier_of\.[A-Z0-9]+"), "exchange", "group_multiplier"),
    (re.compile(r"default_margin_call_threshold"), "exchange", "default_margin_call_threshold"),
]


_NEUTRAL = re.compile(r"schema|symbol|description|rationale|references(\[\d+\].*)?|tiers\[\d+\]\.floor"
                      r"|groups(\[\d+\]\..*)?")
STRUCTURE = "structure"  # the parameter of a change that no guardrail can compare


def data_flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{"tiers": [{"cap": 1}]}` -> `{"tiers[0].cap": 1}`; leaves only."""
    flat: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            flat.update(data_flatten(value, f"{prefix}.{key}" if prefix else key))
    elif isinstance(data, list) and data and all(isinstance(v, (dict, list)) for v in data):
        for i, value in enumerate(data):
            flat.update(data_flatten(value, f"{prefix}[{i}]"))
    else:
        flat[prefix] = data
    return flat


def _comparable(data: Any) -> dict[str, Any]:
    """Flat fields; a draft's content may not validate (yet), so any shape is compared."""
    flat = data_flatten(data)
    if isinstance(data, dict) and data.get("schema") == "exchange/v1":
        # a contract's group multiplier changes with the group's multiplier or with its membership
        groups = data.get("groups")
        for group in groups if isinstance(groups, list) else []:
            members = group.get("members") if isinstance(group, dict) else None
            for symbol in members if isinstance(members, list) else []:
                flat[f"group_multiplier_of.{symbol}"] = group.get("multiplier")
    return flat


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    relative_change: Decimal | None
    parameter: str | None = None  # the guardrail it touches
    direction: str = NEUTRAL
    step: Decimal | None = None
    max_step: Decimal | None = None
    beyond_step: bool = False
    notice_hours: int = 0

    @property
    def guarded(self) -> bool:
        return self.parameter is not None


@dataclass(frozen=True, slots=True)
class Assessment:
    changes: tuple[FieldChange, ...]
    rollback: bool
    required_approvals: int
    notice_hours: int
    # the number of an earlier version, in force within the policy's step window, that the
    # content loosens beyond a step bound (the active one does not): judged as that move
    beyond_step_since: int | None = None

    @property
    def tightening_only(self) -> bool:
        guarded = [c for c in self.changes if c.guarded]
        return bool(guarded) and all(c.direction == TIGHTENING for c in guarded)

    @property
    def loosening_beyond_step(self) -> bool:
        return self.beyond_step_since is not None or any(c.beyond_step for c in self.changes)


def _relative(old: Any, new: Any) -> Decimal | None:
    if isinstance(old, Decimal) and isinstance(new, Decimal) and old != 0:
        return CONTEXT.divide(CONTEXT.subtract(new, old), old.copy_abs())
    return None


def _judge(path: str, old: Any, new: Any, guardrail: Guardrail | None, parameter: str | None,
           strictest_notice: int) -> FieldChange:
    relative = _relative(old, new)
    if guardrail is None:
        if parameter is None and _NEUTRAL.fullmatch(path):
            return FieldChange(path, old, new, relative)
        # not comparable by any guardrail: never a tightening, and the largest kind of change
        return FieldChange(path, old, new, relative, parameter or STRUCTURE, LOOSENING, None, None, True,
                           strictest_notice)
    if not isinstance(old, Decimal) or not isinstance(new, Decimal):
        # added or removed: no field-by-field comparison, the strictest treatment
        return FieldChange(path, old, new, relative, parameter, LOOSENING, None, guardrail.max_step, True,
                           guardrail.notice_hours)
    increase = new > old
    tightening = increase == (guardrail.tightening == "increase")
    step = (CONTEXT.subtract(new, old).copy_abs() if guardrail.step == "absolute"
            else relative.copy_abs() if relative is not None else None)
    if tightening:
        return FieldChange(path, old, new, relative, parameter, TIGHTENING, step, guardrail.max_step)
    beyond = step is None or step > guardrail.max_step
    return FieldChange(path, old, new, relative, parameter, LOOSENING, step, guardrail.max_step, beyond,
                       guardrail.notice_hours)


def changes_assess(*, old: Any, new: Any, policy: PolicyRules,
                   rollback: bool = False) -> Assessment:
    """Compare new content with the active content (None: nothing active yet) under `policy`."""
    if old is None:
        return Assessment((), rollback, policy.approvals.rollback if rollback else policy.approvals.standard, 0)
    before, after = _comparable(old), _comparable(new)
    scope = "exchange" if isinstance(new, dict) and new.get("schema") == "exchange/v1" else "contract"
    strictest_notice = max((g.notice_hours for g in policy.guardrails.get(scope, {}).values()), default=0)
    changes = []
    for path in sorted(set(before) | set(after), key=_path_order):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        parameter = guardrail = None
        for pattern, scope, name in _GUARDED:
            if pattern.fullmatch(path):
                parameter, guardrail = name, policy.guardrail(scope, name)
                break
        changes.append(_judge(path, a, b, guardrail, parameter, strictest_notice))
    if rollback:
        return Assessment(tuple(changes), True, policy.approvals.rollback, 0)
    beyond = any(c.beyond_step for c in changes)
    approvals = policy.approvals.loosening_beyond_step if beyond else policy.approvals.standard
    notice = max((c.notice_hours for c in changes if c.direction == LOOSENING), default=0)
    return Assessment(tuple(changes), False, approvals, notice)


def _path_order(path: str) -> tuple:
    """Natural order: tiers[2] before tiers[10]."""
    # split on the indices: names at even places, indices at odd ones, so a key "123" stays text
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"\[(\d+)\]", path)))
