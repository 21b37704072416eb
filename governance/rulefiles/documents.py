"""The validated content of rule files, as frozen dataclasses of Decimals."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class TierRule:
    floor: Decimal
    cap: Decimal
    max_leverage: Decimal
    maintenance_margin_rate: Decimal


@dataclass(frozen=True, slots=True)
class VolatilityBandRule:
    min_volatility: Decimal
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class ContractRules:
    symbol: str
    description: str
    settlement_asset: str
    contract_size: Decimal
    tick_size: Decimal
    margin_call_threshold: Decimal | None
    tiers: tuple[TierRule, ...]
    volatility_bands: tuple[VolatilityBandRule, ...]
    rationale: str
    references: tuple[str, ...]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ContractRules:
        return cls(
            symbol=data["symbol"],
            description=data["description"],
            settlement_asset=data["settlement_asset"],
            contract_size=data["contract_size"],
            tick_size=data["tick_size"],
            margin_call_threshold=data.get("margin_call_threshold"),
            tiers=tuple(TierRule(**t) for t in data["tiers"]),
            volatility_bands=tuple(VolatilityBandRule(**b) for b in data["volatility_bands"]),
            rationale=data["rationale"],
            references=tuple(data.get("references", ())),
        )

    @property
    def max_band_multiplier(self) -> Decimal:
        return max(b.multiplier for b in self.volatility_bands)


@dataclass(frozen=True, slots=True)
class ContractGroup:
    name: str
    description: str
    multiplier: Decimal
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    global_multiplier: Decimal
    default_margin_call_threshold: Decimal
    groups: tuple[ContractGroup, ...]
    rationale: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ExchangeRules:
        return cls(
            global_multiplier=data["global_multiplier"],
            default_margin_call_threshold=data["default_margin_call_threshold"],
            groups=tuple(
                ContractGroup(g["name"], g.get("description", ""), g["multiplier"], tuple(g["members"]))
                for g in data["groups"]
            ),
            rationale=data["rationale"],
        )

    def group_of(self, symbol: str) -> ContractGroup | None:
        """The group a contract belongs to (validation allows at most one)."""
        return next((g for g in self.groups if symbol in g.members), None)


@dataclass(frozen=True, slots=True)
class Guardrail:
    tightening: str
    min: Decimal
    max: Decimal
    max_step: Decimal
    step: str
    notice_hours: int


@dataclass(frozen=True, slots=True)
class Approvals:
    standard: int
    loosening_beyond_step: int
    rollback: int
    emergency: int
    ratification: int


@dataclass(frozen=True, slots=True)
class Roles:
    authors: str
    committee: str
    emergency: str
    consumers: str
    position_service: str = "position-service"


@dataclass(frozen=True, slots=True)
class PolicyRules:
    roles: Roles
    approvals: Approvals
    approval_expiry_hours: int
    guardrails: dict[str, dict[str, Guardrail]]
    rationale: str
    step_window_hours: int = 0

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PolicyRules:
        return cls(
            roles=Roles(**data["roles"]),
            approvals=Approvals(**{k: int(v) for k, v in data["approvals"].items()}),
            approval_expiry_hours=int(data["approval_expiry_hours"]),
            guardrails={
                scope: {
                    name: Guardrail(**{**g, "notice_hours": int(g["notice_hours"])})
                    for name, g in params.items()
                }
                for scope, params in data["guardrails"].items()
            },
            rationale=data["rationale"],
            step_window_hours=int(data.get("step_window_hours", 0)),
        )

    def guardrail(self, scope: str, parameter: str) -> Guardrail | None:
        return self.guardrails.get(scope, {}).get(parameter)
