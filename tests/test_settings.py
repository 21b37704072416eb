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
    ("DJANGO_DEBUG", "ture", "DJANGO_DEBUG='ture': expected true or false (1/0, yes/no, on/off)"),
    ("LOG_LEVEL", "verbose", "LOG_LEVEL='VERBOSE': expected DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("API_THROTTLE_USER", "lots", "API_THROTTLE_USER='lots': expected a rate such as 60/min (requests per s, "
                                  "min, hour or day)"),
    ("API_THROTTLE_ANON", "60/week", "API_THROTTLE_ANON='60/week': expected a rate such as 60/min (requests per "
                                     "s, min, hour or day)"),
    ("API_THROTTLE_ANON", "0/min", "API_THROTTLE_ANON='0/min': expected a rate such as 60/min (requests per s, "
                                   "min, hour or day)"),
])
def test_a_malformed_setting_is_one_line_naming_it(name, value, message):
    result = manage_check(**{name: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"manage.py: configuration error: {message}")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


EMPTY = ["DATABASE_URL", "ROLLOUT_CHUNK_SIZE", "IMPACT_PREVIEW_TOLERANCE", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS",
         "RULES_DIR", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_DEFAULT_QUEUE", "LOG_LEVEL",
         "CACHE_URL", "CACHE_DIR", "API_THROTTLE_ANON", "API_THROTTLE_USER", "API_PROCESS_CACHE", "DJANGO_DEBUG"]


def test_an_empty_setting_takes_its_default():
    clean = {k: v for k, v in os.environ.items() if k not in EMPTY}
    shown = ("from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.ROLLOUT_CHUNK_SIZE, "
             "s.IMPACT_PREVIEW_TOLERANCE, s.SECRET_KEY, s.ALLOWED_HOSTS, s.RULES_DIR == s.BASE_DIR / 'rules', "
             "repr(s.CELERY_BROKER_URL), s.CELERY_RESULT_BACKEND, s.CELERY_TASK_DEFAULT_QUEUE, s.LOG_LEVEL, "
             "s.CACHES['default']['LOCATION'] == str(s.BASE_DIR / 'var' / 'cache'), s.REST_FRAMEWORK["
             "'DEFAULT_THROTTLE_RATES'], s.API_PROCESS_CACHE, s.DEBUG)")
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", shown], cwd=ROOT,
                            env={**clean, **{name: " " for name in EMPTY}}, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "django.db.backends.sqlite3 50000 0.05 insecure-embedded-default-change-me ['localhost', '127.0.0.1'] True "
        "'' None celery INFO True {'anon': '60/min', 'user': '6000/min'} True False\n")


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_a_worker_or_beat_started_with_a_malformed_setting_stops_on_one_line(command):
    clean = {k: v for k, v in os.environ.items() if k != "ROLLOUT_CHUNK_SIZE"}
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "governance", command],
                            cwd=ROOT, env={**clean, "ROLLOUT_CHUNK_SIZE": "abc"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == "celery: configuration error: ROLLOUT_CHUNK_SIZE='abc': expected a whole number\n"
