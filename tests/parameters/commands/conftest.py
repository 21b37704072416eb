"""Running a management command as a user would: output and exit status."""
import shutil
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def run(name: str, *args: str) -> Result:
    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def rules_dir(tmp_path, monkeypatch) -> Path:
    """A copy of rules/ in a temporary directory, which is also the working directory."""
    target = tmp_path / "rules"
    shutil.copytree(Path(settings.RULES_DIR), target)
    monkeypatch.chdir(tmp_path)
    return target
