"""`make test-matrix`: the test suite on every CPython >= 3.11 on this machine.

NOX_PYTHONS="3.11 3.13" narrows the list (CI does); interpreters not installed are skipped.
"""

from __future__ import annotations

import glob
import os
import subprocess

import nox

CANDIDATES = ["3.11", "3.12", "3.13", "3.14"]


def _runs(executable: str) -> bool:
    try:
        return (
            subprocess.run(  # noqa: S603
                [executable, "--version"], capture_output=True, check=False
            ).returncode
            == 0
        )
    except OSError:
        return False


def _find(version: str) -> str | None:
    """The interpreter for `version`: on PATH, or installed by pyenv but not activated."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        f"python{version}",
        *sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True),
    ]
    return next((c for c in candidates if _runs(c)), None)


FOUND = {v: path for v in CANDIDATES if (path := _find(v))}
# nox looks interpreters up by name on PATH; put pyenv's version folders there too.
os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(p) for p in FOUND.values() if os.sep in p] + [os.environ["PATH"]]
)
PYTHONS = os.environ.get("NOX_PYTHONS", "").split() or list(FOUND)

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite on one interpreter, installed from the lock file like `make test`."""
    session.install("--constraint", "requirements.lock", "--editable", ".[dev]")
    # Each interpreter empties and rebuilds MariaDB databases of its own, so that a matrix
    # run never collides with `make test` (or another matrix) running at the same time.
    suffix = str(session.python).replace(".", "")
    env = {
        "TEST_MARIADB_DATABASE": f"tasks_test_py{suffix}",
        "TEST_MARIADB_MIGRATIONS_DATABASE": f"tasks_migrations_test_py{suffix}",
    }
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs, env=env)
