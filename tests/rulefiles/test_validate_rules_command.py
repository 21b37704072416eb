"""`manage.py validate_rules`, run as a user runs it: a separate process, exit codes and output."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.rulefiles.samples import CONTRACT

ROOT = Path(settings.BASE_DIR)


def run(*args, cwd=ROOT, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "validate_rules", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_shipped_rules_are_clean_with_a_summary():
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "validate_rules: 16 files valid (14 contracts)\n"


def test_works_without_a_database():
    result = run(env_extra={"DATABASE_URL": "postgres://nobody@127.0.0.1:1/nowhere"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("(14 contracts)\n")


def test_every_error_is_printed_with_its_location_and_exit_1(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    btc = rules / "contracts" / "BTCUSDT.yaml"
    btc.write_text(btc.read_text().replace("maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.004")
                   .replace("tick_size: 0.1", "tick_size: no"))
    (rules / "contracts" / "TESTUSDT.yaml").write_text(CONTRACT.replace("cap: 50000", "cap: fifty"))
    result = run("rules", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "rules/contracts/BTCUSDT.yaml:7:12: tick_size: ambiguous value 'no': YAML 1.1 reads it as a boolean; "
        "write true or false, or quote it for a string",
        "rules/contracts/BTCUSDT.yaml:21:30: tiers[2].maintenance_margin_rate: maintenance margin rate 0.004 "
        "is below the previous tier's 0.005; rates must not decrease from tier to tier",
        "rules/contracts/TESTUSDT.yaml:10:10: tiers[0].cap: expected a number, got 'fifty'",
        "validate_rules: 3 errors in 2 of 17 files",
    ]


def test_single_file_can_be_validated(tmp_path):
    path = tmp_path / "TESTUSDT.yaml"
    path.write_text(CONTRACT)
    result = run(str(path))
    assert (result.returncode, result.stdout) == (0, "validate_rules: 1 file valid (1 contract)\n")


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: tmp / "missing.yaml", "no such file or directory: {path}"),
    (lambda tmp: tmp, "no rule files (*.yaml, *.yml) found in {path}"),
], ids=["missing path", "empty directory"])
def test_bad_arguments_exit_2_with_one_line(tmp_path, make_path, message):
    path = make_path(tmp_path)
    result = run(str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"CommandError: {message.format(path=path)}\n"


def test_what_is_named_like_a_rule_file_but_cannot_be_read_is_an_error_not_skipped(tmp_path):
    contracts = tmp_path / "rules" / "contracts"
    contracts.mkdir(parents=True)
    (contracts / "TESTUSDT.yaml").write_text(CONTRACT)
    (contracts / "BROKEN.yaml").symlink_to(tmp_path / "gone.yaml")
    (contracts / "LOOP.yaml").symlink_to(contracts / "LOOP.yaml")
    os.mkfifo(contracts / "PIPE.yaml")
    result = run("rules", cwd=tmp_path)
    assert (result.returncode, result.stdout.splitlines()) == (1, [
        "rules/contracts/BROKEN.yaml:1:1: cannot read file: No such file or directory",
        "rules/contracts/LOOP.yaml:1:1: cannot read file: Too many levels of symbolic links",
        "rules/contracts/PIPE.yaml:1:1: cannot read file: not a regular file",
        "validate_rules: 3 errors in 3 of 4 files",
    ])


def test_a_file_named_and_in_a_folder_named_is_read_once(tmp_path):
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "TESTUSDT.yaml").write_text(CONTRACT)
    result = run("contracts/TESTUSDT.yaml", "contracts", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "validate_rules: 1 file valid (1 contract)\n")
