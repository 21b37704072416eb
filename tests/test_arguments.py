"""Path arguments of the management commands: an empty one is refused, not read as the current directory."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from governance.arguments import path_parse

ROOT = Path(__file__).resolve().parents[1]


def test_a_path_argument_is_a_path_and_an_empty_one_is_refused():
    assert path_parse("rules/contracts") == Path("rules/contracts")
    for empty in ("", "  "):
        with pytest.raises(argparse.ArgumentTypeError) as error:
            path_parse(empty)
        assert str(error.value) == "an empty path (is a variable unset?)"


def test_export_rules_with_an_empty_dir_exits_2_and_writes_nothing_where_it_runs(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "export_rules", "--dir", ""], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("manage.py export_rules: error: argument --dir: an empty path "
                                              "(is a variable unset?)")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
