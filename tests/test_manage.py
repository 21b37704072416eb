"""`manage.py` itself: what reaches the user when a command is interrupted."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_interrupted_command_says_so_in_one_line_and_exits_130():
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                             "raise KeyboardInterrupt"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (
        130, "", "manage.py: interrupted; what the command committed before stays (seed_positions writes batch by "
                 "batch: the same command again completes its book)\n")
