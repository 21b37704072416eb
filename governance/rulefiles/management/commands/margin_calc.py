"""`manage.py margin_calc`: what-if margin for one isolated position, from rule files, as JSON."""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

from django.core.management.base import BaseCommand

from governance.arguments import path_parse
from governance.margin import (
    MarginError,
    Position,
    Tier,
    multiplier_resolve,
    requirements_compute,
    schedule_build,
)
from governance.margin.numbers import decimal_parse
from governance.rulefiles import ContractRules, ExchangeRules, RuleContext, RuleFilesInvalid, RuleSet, ruleset_load

EXIT_BAD_INPUT = 2


def decimal_arg(text: str) -> Decimal:
    return decimal_parse(text)  # a ValueError: argparse says "invalid decimal number value"


decimal_arg.__name__ = "decimal number"  # argparse names the type in its message


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"margin_calc: error: {message}\n")
    raise SystemExit(EXIT_BAD_INPUT)


def rules_load(contract_path: Path, exchange_path: Path | None) -> tuple[ContractRules, ExchangeRules | None]:
    exchange = None
    if exchange_path is not None:
        exchange = _valid(exchange_path).exchange
        if exchange is None:
            fail(f"{exchange_path} is not an exchange rule file (schema: exchange/v1)")
    ruleset = _valid(contract_path, context=RuleContext(exchange=exchange))
    if len(ruleset.contracts) != 1:
        fail(f"{contract_path} is not a contract rule file (schema: contract/v1)")
    return next(iter(ruleset.contracts.values())), exchange


def _valid(path: Path, context: RuleContext | None = None) -> RuleSet:
    if not path.is_file():
        fail(f"no such rule file: {path}")
    ruleset = ruleset_load([path], context=context)
    try:
        ruleset.raise_if_invalid()
    except RuleFilesInvalid as exc:
        more = f" (and {len(exc.errors) - 1} more; run validate_rules)" if len(exc.errors) > 1 else ""
        fail(f"rule file does not validate: {exc.errors[0]}{more}")
    return ruleset


class Command(BaseCommand):
    help = ("Compute initial and maintenance margin, margin ratio, liquidation price and status of one "
            "isolated position from a contract rule file. Prints one JSON object; bad input: one line, exit 2.")
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = fail  # one line and exit 2, not argparse's usage block
        return parser

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rules", type=path_parse, required=True, help="contract rule file")
        parser.add_argument("--exchange", type=path_parse, help="exchange-wide rule file (multipliers, default threshold)")
        parser.add_argument("--side", choices=["long", "short"], required=True)
        parser.add_argument("--quantity", type=decimal_arg, required=True, help="contracts, > 0")
        parser.add_argument("--entry-price", type=decimal_arg, required=True)
        parser.add_argument("--isolated-margin", type=decimal_arg, required=True)
        parser.add_argument("--mark-price", type=decimal_arg, help="default: the entry price")
        parser.add_argument("--realized-vol", type=decimal_arg,
                            help="annualised realized volatility (0.8 = 80%%) choosing the volatility band")

    def handle(self, *args, **options) -> None:
        contract, exchange = rules_load(options["rules"], options["exchange"])
        threshold = contract.margin_call_threshold or (exchange and exchange.default_margin_call_threshold)
        if threshold is None:
            fail(f"{contract.symbol} has no margin_call_threshold; pass --exchange for the exchange-wide default")
        group = exchange.group_of(contract.symbol) if exchange else None
        try:
            applied = multiplier_resolve(
                bands=contract.volatility_bands,
                realized_volatility=options["realized_vol"],
                global_multiplier=exchange.global_multiplier if exchange else Decimal(1),
                group=group.name if group else None,
                group_multiplier=group.multiplier if group else Decimal(1),
            )
            schedule = schedule_build(
                tiers=[Tier(t.floor, t.cap, t.max_leverage, t.maintenance_margin_rate) for t in contract.tiers],
                multiplier=applied.effective,
            )
            position = Position(
                side=options["side"], quantity=options["quantity"], entry_price=options["entry_price"],
                isolated_margin=options["isolated_margin"], contract_size=contract.contract_size,
                mark_price=options["mark_price"],
            )
            result = requirements_compute(position=position, schedule=schedule,
                                          margin_call_threshold=threshold, tick_size=contract.tick_size)
        except MarginError as exc:
            fail(str(exc))
        output = result.as_json_dict()
        output["multiplier"] = str(applied.effective)
        self.stdout.write(json.dumps(output, indent=2))
