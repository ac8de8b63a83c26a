"""What docker-compose.yml gives each container, worked out without a Docker engine.

Compose's rules for the parts this project uses: a service's environment is its
`env_file` overlaid by its `environment:` map, and `${VAR}`, `${VAR:-default}` and
`${VAR:?message}` in the file are replaced from the project's `.env` (`$$` is a literal
`$`). test_compose.py checks these rules against the real `docker-compose config`, so the
native smoke run can trust them where no compose tool is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from webapp.settings import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
ENV_TEMPLATE = PROJECT_ROOT / ".env.template"

# Variables of .env.template read by docker-compose.yml (the images and the URLs it builds)
# and not by webapp/settings.py. Every other variable there must be a Settings field.
COMPOSE_ONLY_VARIABLES = (
    "MYSQL_DATABASE",
    "MYSQL_USER",
    "MYSQL_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "RABBITMQ_DEFAULT_VHOST",
)
# Left empty in .env.template; `make cluster-env` (run by `make run-in-cluster`) fills them.
CLUSTER_SECRETS = ("SECRET_KEY", "MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "RABBITMQ_DEFAULT_PASS")
# The services built from this project's Dockerfile.
APP_SERVICES = ("migrate", "app", "worker")

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty."""


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines, as compose reads an env file (comments and blank lines skipped)."""
    variables: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        variables[name.strip()] = value
    return variables


def write_env_file(path: Path, variables: dict[str, str]) -> None:
    path.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))


def interpolate(text: str, variables: dict[str, str]) -> str:
    """`text` with compose's variable substitution applied from `variables`."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value = variables.get(name)
        operator, argument = match["operator"], match["argument"]
        # The ':' forms treat an empty value like an unset one.
        missing = value is None or (operator is not None and operator.startswith(":") and not value)
        if operator and operator.endswith("?") and missing:
            raise MissingVariable(f"{name}: {argument}")
        if operator and operator.endswith("-") and missing:
            return argument
        return value or ""

    return _VARIABLE.sub(replace, text)


def _interpolate_tree(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The parsed compose file (YAML anchors merged); substituted when `variables` given."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document if variables is None else _interpolate_tree(document, variables)


def container_environment(service: str, env_file: Path) -> dict[str, str]:
    """The environment compose gives `service`'s container, with `env_file` as the .env."""
    dotenv = read_env_file(env_file)
    definition = load_compose(dotenv)["services"][service]
    environment: dict[str, str] = {}
    if "env_file" in definition:
        files = definition["env_file"]
        for name in [files] if isinstance(files, str) else files:
            environment.update(read_env_file(env_file.parent / name))
    declared = definition.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.partition("=")[::2] for item in declared)
    environment.update({key: str(value) for key, value in declared.items()})
    return environment


def make_cluster_env(env_file: Path) -> subprocess.CompletedProcess[str]:
    """`make cluster-env` writing to `env_file`: the .env a newcomer's first
    `make run-in-cluster` makes (the template, with its empty secrets generated)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "cluster-env", f"CLUSTER_ENV={env_file}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )


def container_command(service: str) -> list[str]:
    command: list[str] = load_compose()["services"][service]["command"]
    return command


def compose_tool() -> list[str] | None:
    """The compose CLI on this machine: Debian's `docker-compose`, or the `docker compose`
    plugin where a full Docker install provides it."""
    if executable := shutil.which("docker-compose"):
        return [executable]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    return None
