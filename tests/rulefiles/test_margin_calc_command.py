"""`manage.py margin_calc`, run as a separate process: JSON on success, one line and exit 2 on bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BASE = ["--rules", "rules/contracts/BTCUSDT.yaml", "--side", "long", "--quantity", "10",
        "--entry-price", "60000", "--isolated-margin", "30000"]


def run(*args):
    return subprocess.run([sys.executable, "manage.py", "margin_calc", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ})


def test_the_issue_example_worked_by_hand():
    # Worked in tests/margin/test_requirements.py::test_long_worked_by_hand (same table, same position).
    result = run(*BASE)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "notional": "600000", "tier": 2, "max_leverage": "100", "initial_margin_rate": "0.01",
        "maintenance_margin_rate": "0.005", "maintenance_amount": "50", "initial_margin": "6000",
        "maintenance_margin": "2950", "unrealized_pnl": "0", "margin_balance": "30000",
        "margin_ratio": "0.09833334", "liquidation_price": "57281.5", "status": "healthy", "multiplier": "1",
    }


def test_volatility_band_and_exchange_multipliers_apply():
    # Realized vol 1.2 -> BTCUSDT band 3 (x1.25); exchange.yaml: global 1, group majors 1.
    # Short 10 at 60,000, mark 61,000: notional 610,000 -> tier 3 scaled: MMR 0.0065 x 1.25 = 0.008125,
    # IM rate 1.25 / 75, cum 50,000 x 0.00125 + 600,000 x 0.001875 = 1,187.5,
    # MM = 610,000 x 0.008125 - 1,187.5 = 3,768.75; balance 30,000 - 10,000 = 20,000.
    result = run(*BASE[:3], "short", *BASE[4:], "--mark-price", "61000", "--realized-vol", "1.2",
                 "--exchange", "rules/exchange.yaml")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {k: out[k] for k in ("tier", "max_leverage", "initial_margin_rate", "maintenance_margin_rate",
                                "maintenance_amount", "maintenance_margin", "margin_balance", "margin_ratio",
                                "liquidation_price", "status", "multiplier")} == {
        "tier": 3, "max_leverage": "60", "initial_margin_rate": "0.016666666666666667",
        "maintenance_margin_rate": "0.008125", "maintenance_amount": "1187.5", "maintenance_margin": "3768.75",
        "margin_balance": "20000", "margin_ratio": "0.1884375", "liquidation_price": "62610",
        "status": "healthy", "multiplier": "1.25",
    }


@pytest.mark.parametrize("change, message", [
    (("--quantity", "-1"), "quantity must be positive, got -1"),
    (("--side", "up"), "argument --side: invalid choice: 'up' (choose from 'long', 'short')"),
    (("--quantity", "abc"), "argument --quantity: invalid decimal number value: 'abc'"),
    (("--quantity", "NaN"), "argument --quantity: invalid decimal number value: 'NaN'"),
    (("--quantity", "100000"), "notional 6000000000 is above the last tier's cap 1800000000"),
    (("--rules", "rules/policy.yaml"), "rules/policy.yaml is not a contract rule file (schema: contract/v1)"),
    (("--rules", "rules/contracts/NOPE.yaml"), "no such rule file: rules/contracts/NOPE.yaml"),
    (("--realized-vol", "-1"), "realized volatility must not be negative, got -1"),
    (("--isolated-margin", "1" + "0" * 80), f"isolated_margin is out of range: 1{'0' * 80} (at most 60 digits either "
                                              f"side of the point)"),
    # what Decimal() alone reads, and a person did not mean: plain notation only
    (("--quantity", "1e600000"), "argument --quantity: invalid decimal number value: '1e600000'"),
    (("--quantity", "1_0"), "argument --quantity: invalid decimal number value: '1_0'"),
    (("--quantity", " 1"), "argument --quantity: invalid decimal number value: ' 1'"),
    (("--quantity", "\u0661"), "argument --quantity: invalid decimal number value: '\u0661'"),
])
def test_bad_input_gives_one_line_and_exit_2(change, message):
    args = list(BASE)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"margin_calc: error: {message}\n")


def test_a_rule_file_that_does_not_validate_is_refused(tmp_path):
    broken = tmp_path / "BTCUSDT.yaml"
    text = (ROOT / "rules/contracts/BTCUSDT.yaml").read_text()
    broken.write_text(text.replace("cap: 50000\n", "cap: fifty\n"))
    result = run("--rules", str(broken), *BASE[2:])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"margin_calc: error: rule file does not validate: {broken}:11:10: tiers[0].cap: "
                             "expected a number, got 'fifty'\n")
    broken.write_text(text.replace("cap: 50000\n", "cap: fifty\n").replace("tick_size: 0.1", "tick_size: no"))
    result = run("--rules", str(broken), *BASE[2:])
    assert result.stderr == (f"margin_calc: error: rule file does not validate: {broken}:7:12: tick_size: "
                             "ambiguous value 'no': YAML 1.1 reads it as a boolean; write true or false, or quote it "
                             "for a string (and 1 more; run validate_rules)\n")


def test_missing_arguments_give_one_line():
    result = run("--side", "long")
    assert (result.returncode, result.stderr) == (
        2, "margin_calc: error: the following arguments are required: --rules, --quantity, --entry-price, "
           "--isolated-margin\n")
