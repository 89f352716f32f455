"""Style check with the ament_flake8 line length (99), on the whole package and its tests."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_flake8_clean():
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--max-line-length", "99", "competency_cf", "test",
         "setup.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
