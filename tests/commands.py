"""`python -m webapp` run as a user runs it: a process of its own, in an environment
without any of the app's settings but those a test gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from webapp.settings import PROJECT_ROOT, Settings

SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    return env | {"PYTHONPATH": str(PROJECT_ROOT)} | variables


def run_webapp(
    cwd: Path, *args: str, stdin: str = "", **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webapp", *args],
        cwd=cwd,
        env=environment(**variables),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
