"""Settings from the environment: a malformed value is one clear line and exit status 1, never a traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def manage_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in env and k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, value, message", [
    ("ROLLOUT_CHUNK_SIZE", "abc", "ROLLOUT_CHUNK_SIZE='abc': expected a whole number"),
    ("ROLLOUT_CHUNK_SIZE", "0", "ROLLOUT_CHUNK_SIZE='0': must be at least 1"),
    ("BEAT_INTERVAL_SECONDS", "nan", "BEAT_INTERVAL_SECONDS='nan': expected a number"),
    ("API_TOKEN_HOURS", "-1", "API_TOKEN_HOURS='-1': must be at least 0.01"),
    ("IMPACT_PREVIEW_TOLERANCE", "2", "IMPACT_PREVIEW_TOLERANCE='2': expected a share, at least 0 and below 1"),
    ("DATABASE_URL", "nonsense://x", "DATABASE_URL: not a database URL (Scheme 'nonsense://' is unknown."),
])
def test_a_malformed_setting_is_one_line_naming_it(name, value, message):
    result = manage_check(**{name: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"manage.py: configuration error: {message}")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_an_empty_setting_takes_its_default():
    result = manage_check(DATABASE_URL="", ROLLOUT_CHUNK_SIZE="", IMPACT_PREVIEW_TOLERANCE=" ")
    assert (result.returncode, result.stdout) == (0, "System check identified no issues (0 silenced).\n")


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_a_worker_or_beat_started_with_a_malformed_setting_stops_on_one_line(command):
    clean = {k: v for k, v in os.environ.items() if k != "ROLLOUT_CHUNK_SIZE"}
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "governance", command],
                            cwd=ROOT, env={**clean, "ROLLOUT_CHUNK_SIZE": "abc"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == "celery: configuration error: ROLLOUT_CHUNK_SIZE='abc': expected a whole number\n"
