"""Checks beyond the schema: the invariants a risk officer relies on.

They run on the parsed data even when the schema found problems elsewhere in
the file, so that one run reports every error; each check looks only at values
of the right type and leaves the rest to the schema's errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable

from governance.rulefiles.documents import ExchangeRules, PolicyRules
from governance.rulefiles.errors import DocPath, RuleError
from governance.rulefiles.strict_yaml import ParsedYaml

Report = Callable[[DocPath, str], None]


@dataclass
class RuleContext:
    """What the other files of a rule set contribute to the checks of one file."""

    exchange: ExchangeRules | None = None
    policy: PolicyRules | None = None
    symbols: frozenset[str] | None = None  # None: no contract files in the set, members are not checked
    # The contracts (symbol -> parsed content) exchange-wide adjustments must leave valid: the
    # store's active ones. In a rules tree the contract files are checked against the exchange file.
    contracts: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def _num(mapping: Any, key: str) -> Decimal | None:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, Decimal) else None


def _items(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def reporter(parsed: ParsedYaml, source: str, errors: list[RuleError]) -> Report:
    def report(path: DocPath, message: str) -> None:
        line, column = parsed.location(path)
        errors.append(RuleError(source, line, column, path, message))
    return report


def _bounds_check(report: Report, policy: PolicyRules | None, scope: str, parameter: str,
                  values: Iterable[tuple[DocPath, Decimal | None]]) -> None:
    guardrail = policy.guardrail(scope, parameter) if policy else None
    if guardrail is None:
        return
    for path, value in values:
        if value is not None and not guardrail.min <= value <= guardrail.max:
            report(path, f"{value} is outside the policy bounds [{guardrail.min}, {guardrail.max}] "
                         f"for {parameter}")


def _tiers_check(report: Report, tiers: list[Any]) -> None:
    previous: dict[str, Decimal | None] = {}
    for i, tier in enumerate(tiers):
        here = ("tiers", i)
        floor, cap = _num(tier, "floor"), _num(tier, "cap")
        lev, mmr = _num(tier, "max_leverage"), _num(tier, "maintenance_margin_rate")
        if i == 0 and floor is not None and floor != 0:
            report(here + ("floor",), f"the first tier must start at 0, got {floor}")
        if floor is not None and cap is not None and cap <= floor:
            report(here + ("cap",), f"cap {cap} must be above the floor {floor}")
        if i > 0:
            p_cap, p_lev, p_mmr = previous.get("cap"), previous.get("lev"), previous.get("mmr")
            if floor is not None and p_cap is not None and floor != p_cap:
                report(here + ("floor",), f"floor {floor} must equal the previous tier's cap {p_cap} "
                                          "(tiers must be contiguous)")
            if cap is not None and p_cap is not None and cap <= p_cap:
                report(here + ("cap",), f"cap {cap} must be above the previous tier's cap {p_cap}")
            if mmr is not None and p_mmr is not None and mmr < p_mmr:
                report(here + ("maintenance_margin_rate",),
                       f"maintenance margin rate {mmr} is below the previous tier's {p_mmr}; "
                       "rates must not decrease from tier to tier")
            if lev is not None and p_lev is not None and lev > p_lev:
                report(here + ("max_leverage",),
                       f"max leverage {lev} is above the previous tier's {p_lev}; "
                       "leverage must not increase from tier to tier")
        if mmr is not None and lev is not None and lev >= 1 and mmr * lev >= 1:
            report(here + ("maintenance_margin_rate",),
                   f"maintenance margin rate {mmr} must be below the initial margin rate "
                   f"1/{lev} of max leverage {lev}")
        previous = {"cap": cap, "lev": lev, "mmr": mmr}


def _multiplier_failures(tiers: list[Any], multiplier: Decimal, how: str) -> list[tuple[int, str]]:
    """Under the largest multiplier, scaled MMR must stay below the scaled initial rate (capped
    at 1): the tiers where it does not, with what happens to them."""
    if multiplier <= 1:
        return []
    failures = []
    for i, tier in enumerate(tiers):
        lev, mmr = _num(tier, "max_leverage"), _num(tier, "maintenance_margin_rate")
        if mmr is None or lev is None or lev < 1 or mmr * lev >= 1:
            continue  # reported by the unscaled check
        scaled_mmr, scaled_imr = mmr * multiplier, min(Decimal(1), multiplier / lev)
        if scaled_mmr >= scaled_imr:
            imr_text = "1 (100% of notional)" if scaled_imr == 1 else f"{multiplier}/{lev}"
            failures.append((i, f"under the largest multiplier {multiplier} ({how}) the maintenance margin rate "
                                f"{mmr} becomes {scaled_mmr}, not below the initial margin rate {imr_text}"))
    return failures


def _multiplier_check(report: Report, tiers: list[Any], multiplier: Decimal, how: str) -> None:
    for i, message in _multiplier_failures(tiers, multiplier, how):
        report(("tiers", i, "maintenance_margin_rate"), message)


def _contracts_under_exchange_check(report: Report, data: Any, contracts: dict[str, Any]) -> None:
    """The exchange-wide multipliers must leave every contract's tiers valid under its largest
    volatility band, as a contract file is checked against the exchange file."""
    global_mult = _num(data, "global_multiplier")
    if global_mult is None:
        return
    group_of = {}
    for group in _items(data, "groups"):
        mult = _num(group, "multiplier")
        for member in _items(group, "members"):
            if isinstance(member, str) and mult is not None:
                group_of.setdefault(member, (group.get("name"), mult))
    for symbol, contract in sorted(contracts.items()):
        bands = _items(contract, "volatility_bands")
        band_max = max((m for b in bands if (m := _num(b, "multiplier")) is not None), default=Decimal(1))
        how = f"volatility band {band_max} x global {global_mult}"
        multiplier = band_max * global_mult
        if symbol in group_of:
            name, group_mult = group_of[symbol]
            multiplier *= group_mult
            how += f" x group {name} {group_mult}"
        for i, message in _multiplier_failures(_items(contract, "tiers"), multiplier, how):
            report(("global_multiplier",), f"contract {symbol} tier {i + 1}: {message}")


def _bands_check(report: Report, bands: list[Any]) -> None:
    p_vol = p_mult = None
    for i, band in enumerate(bands):
        here = ("volatility_bands", i)
        vol, mult = _num(band, "min_volatility"), _num(band, "multiplier")
        if i == 0 and vol is not None and vol != 0:
            report(here + ("min_volatility",), f"the first band must start at 0, got {vol}")
        if i > 0 and vol is not None and p_vol is not None and vol <= p_vol:
            report(here + ("min_volatility",), f"min_volatility {vol} must be above the previous "
                                               f"band's {p_vol} (bands ordered by volatility)")
        if i > 0 and mult is not None and p_mult is not None and mult < p_mult:
            report(here + ("multiplier",), f"multiplier {mult} is below the previous band's {p_mult}; "
                                           "a higher volatility must not lower margin")
        p_vol, p_mult = vol, mult


def contract_check(data: Any, report: Report, context: RuleContext, *, file_stem: str | None) -> None:
    tiers, bands = _items(data, "tiers"), _items(data, "volatility_bands")
    symbol = data.get("symbol") if isinstance(data, dict) else None
    if file_stem is not None and isinstance(symbol, str) and symbol != file_stem:
        report(("symbol",), f"symbol '{symbol}' does not match the file name '{file_stem}.yaml'")
    _tiers_check(report, tiers)
    _bands_check(report, bands)

    band_max = max((m for b in bands if (m := _num(b, "multiplier")) is not None), default=Decimal(1))
    multiplier, how = band_max, f"volatility band {band_max}"
    if context.exchange is not None and isinstance(symbol, str):
        group = context.exchange.group_of(symbol)
        group_mult = group.multiplier if group else Decimal(1)
        multiplier = band_max * context.exchange.global_multiplier * group_mult
        how += f" x global {context.exchange.global_multiplier}"
        how += f" x group {group.name} {group_mult}" if group else ""
    _multiplier_check(report, tiers, multiplier, how)

    policy = context.policy
    _bounds_check(report, policy, "contract", "maintenance_margin_rate",
                  [(("tiers", i, "maintenance_margin_rate"), _num(t, "maintenance_margin_rate"))
                   for i, t in enumerate(tiers)])
    _bounds_check(report, policy, "contract", "max_leverage",
                  [(("tiers", i, "max_leverage"), _num(t, "max_leverage")) for i, t in enumerate(tiers)])
    _bounds_check(report, policy, "contract", "notional_cap",
                  [(("tiers", i, "cap"), _num(t, "cap")) for i, t in enumerate(tiers)])
    _bounds_check(report, policy, "contract", "volatility_multiplier",
                  [(("volatility_bands", i, "multiplier"), _num(b, "multiplier")) for i, b in enumerate(bands)])
    _bounds_check(report, policy, "contract", "volatility_threshold",
                  [(("volatility_bands", i, "min_volatility"), _num(b, "min_volatility")) for i, b in enumerate(bands)])
    _bounds_check(report, policy, "contract", "margin_call_threshold",
                  [(("margin_call_threshold",), _num(data, "margin_call_threshold"))])


def exchange_check(data: Any, report: Report, context: RuleContext) -> None:
    groups = _items(data, "groups")
    names: dict[str, int] = {}
    member_of: dict[str, str] = {}
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            continue
        name = group.get("name")
        if isinstance(name, str):
            if name in names:
                report(("groups", i, "name"), f"group name '{name}' is already used by groups[{names[name]}]")
            names.setdefault(name, i)
        for j, member in enumerate(_items(group, "members")):
            if not isinstance(member, str):
                continue
            if member in member_of:
                report(("groups", i, "members", j),
                       f"contract '{member}' is already a member of group '{member_of[member]}'; "
                       "a contract belongs to at most one group")
                continue
            member_of[member] = name if isinstance(name, str) else f"groups[{i}]"
            if context.symbols is not None and member not in context.symbols:
                report(("groups", i, "members", j),
                       f"unknown contract '{member}': no contract file in this rule set defines it")
    _contracts_under_exchange_check(report, data, context.contracts)
    policy = context.policy
    _bounds_check(report, policy, "exchange", "global_multiplier",
                  [(("global_multiplier",), _num(data, "global_multiplier"))])
    _bounds_check(report, policy, "exchange", "group_multiplier",
                  [(("groups", i, "multiplier"), _num(g, "multiplier")) for i, g in enumerate(groups)])
    _bounds_check(report, policy, "exchange", "default_margin_call_threshold",
                  [(("default_margin_call_threshold",), _num(data, "default_margin_call_threshold"))])


def policy_check(data: Any, report: Report, context: RuleContext) -> None:
    guardrails = data.get("guardrails") if isinstance(data, dict) else None
    for scope, params in (guardrails.items() if isinstance(guardrails, dict) else ()):
        for name, rail in (params.items() if isinstance(params, dict) else ()):
            low, high = _num(rail, "min"), _num(rail, "max")
            if low is not None and high is not None and low > high:
                report(("guardrails", scope, name, "min"), f"min {low} must not exceed max {high}")
    approvals = data.get("approvals") if isinstance(data, dict) else None
    standard = _num(approvals, "standard")
    if standard is not None:
        for key in ("loosening_beyond_step", "ratification"):
            count = _num(approvals, key)
            if count is not None and count < standard:
                report(("approvals", key), f"{count} must be at least the standard quorum {standard}")
    emergency = _num(approvals, "emergency")
    if emergency is not None and emergency != 1:
        # the emergency path is one responder's act, ratified by the quorum afterwards; a policy
        # must not ask for more, as nothing would collect the other approvals
        report(("approvals", "emergency"), f"{emergency} is not supported: an emergency activation is one "
                                           f"responder's approval, ratified afterwards by approvals.ratification")
