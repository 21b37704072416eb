"""Benchmark: validate a generated rules tree of 2,000 contracts x 20 tiers.

Prints contracts per second for the project's loader (`ruleset_load`, one
compiled validator reused for every file) and for a naive loop that builds a
new jsonschema validator per file, and their ratio. Target: the whole tree in
under 3 s on the 2-core machine. Usage: python bench/validate_rules.py [--contracts N] [--tiers N]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

from governance.rulefiles import rule_paths_collect, ruleset_load  # noqa: E402
from governance.rulefiles.schemas import SCHEMAS_DIR  # noqa: E402


def contract_text(symbol: str, tiers: int) -> str:
    lines = ["schema: contract/v1", f"symbol: {symbol}", f"description: Generated contract {symbol}",
             "settlement_asset: USDT", "contract_size: 1", "tick_size: 0.01", "tiers:"]
    floor, lev, mmr = 0, 125, 40  # mmr in units of 0.0001
    for i in range(tiers):
        cap = 50000 * 2 ** i
        lines += [f"  - floor: {floor}", f"    cap: {cap}", f"    max_leverage: {lev}",
                  f"    maintenance_margin_rate: {mmr / 10000}"]
        floor, lev = cap, max(1, lev * 4 // 5)
        mmr = min(int(10000 / lev) - 5, mmr + 20) if lev > 1 else mmr
    lines += ["volatility_bands:", "  - min_volatility: 0", "    multiplier: 1",
              "  - min_volatility: 1", "    multiplier: 1.2", "rationale: Generated for the benchmark."]
    return "\n".join(lines) + "\n"


def tree_generate(root: Path, contracts: int, tiers: int) -> list[str]:
    (root / "contracts").mkdir(parents=True)
    symbols = [f"C{i:05d}USDT" for i in range(contracts)]
    for symbol in symbols:
        (root / "contracts" / f"{symbol}.yaml").write_text(contract_text(symbol, tiers))
    groups = "\n".join(f"  - name: g{g}\n    multiplier: 1\n    members: [{', '.join(symbols[g::10])}]"
                       for g in range(10))
    (root / "exchange.yaml").write_text("schema: exchange/v1\nglobal_multiplier: 1\n"
                                        f"default_margin_call_threshold: 0.8\ngroups:\n{groups}\nrationale: Bench.\n")
    return symbols


def naive_validate(paths: list[Path]) -> int:
    """What a first attempt does: safe_load (floats!) and a fresh validator for every file."""
    schema = json.loads((SCHEMAS_DIR / "contract-v1.schema.json").read_text())
    errors = 0
    for path in paths:
        data = yaml.safe_load(path.read_text())
        if "contract" not in str(data.get("schema")):
            continue
        errors += sum(1 for _ in Draft202012Validator(schema).iter_errors(data))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--tiers", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rules"
        tree_generate(root, args.contracts, args.tiers)
        started = time.perf_counter()
        ruleset = ruleset_load([root])
        ours = time.perf_counter() - started
        if ruleset.errors or len(ruleset.contracts) != args.contracts:
            sys.exit(f"generated tree did not validate: {[str(e) for e in ruleset.errors[:3]]}")
        paths = [p for p in rule_paths_collect([root]) if p.parent.name == "contracts"]
        started = time.perf_counter()
        naive_validate(paths)
        naive = time.perf_counter() - started
    n = args.contracts
    print(f"project loader: {n} contracts x {args.tiers} tiers in {ours:.2f} s ({n / ours:.0f} contracts/s), "
          "strict YAML + schema + semantic + cross-file checks")
    print(f"naive loop (safe_load + new validator per file, schema only): {naive:.2f} s ({n / naive:.0f} contracts/s)")
    print(f"validate_rules: contracts={n} tiers={args.tiers} seconds={ours:.2f} contracts_per_second={n / ours:.0f} "
          f"naive_seconds={naive:.2f} speedup_vs_naive={naive / ours:.2f} target_seconds=3 "
          f"{'OK' if ours < 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
