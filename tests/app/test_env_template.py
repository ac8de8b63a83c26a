""".env.template and the README's configuration table document exactly the settings there are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp.settings import PROJECT_ROOT, Settings

TEMPLATE = PROJECT_ROOT / ".env.template"
README = PROJECT_ROOT / "README.md"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
# The template's last section holds variables only docker-compose.yml reads.
CLUSTER_ONLY_MARKER = "cluster only"
VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")

SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def template_sections() -> tuple[list[str], list[str]]:
    """The template's lines: those for the app, and those for the cluster only."""
    lines = TEMPLATE.read_text().splitlines()
    marker = next(
        (i for i, line in enumerate(lines) if line.startswith("#") and CLUSTER_ONLY_MARKER in line),
        len(lines),
    )
    return lines[:marker], lines[marker:]


def variables(lines: list[str]) -> list[str]:
    return [match[1] for line in lines if (match := VARIABLE.match(line))]


def test_the_template_lists_every_setting_once_and_nothing_else() -> None:
    app_lines, _ = template_sections()
    names = variables(app_lines)
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert sorted(names) == sorted(SETTING_NAMES)


def test_every_template_variable_has_a_comment_of_its_own() -> None:
    app_lines, _ = template_sections()
    for index, line in enumerate(app_lines):
        if VARIABLE.match(line):
            comment = app_lines[index - 1] if index else ""
            assert comment.startswith("# "), line
            assert not comment.startswith("# ---"), f"{line}: only a section heading above"


def test_the_template_values_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cp .env.template .env` must change nothing: the documented values are the real ones.
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    assert Settings(_env_file=TEMPLATE) == Settings(_env_file=None)


def test_cluster_only_variables_are_not_settings_and_compose_reads_them() -> None:
    _, cluster_lines = template_sections()
    names = variables(cluster_lines)
    assert not set(names) & SETTING_NAMES
    if names:
        compose = COMPOSE.read_text()
        assert [name for name in names if name not in compose] == []


def readme_configuration_names() -> list[str]:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names += re.findall(r"`([A-Z][A-Z0-9_]*\*?)`", first_cell)
    return names


def test_the_readme_configuration_table_lists_every_setting() -> None:
    listed = readme_configuration_names()
    exact = {name for name in listed if not name.endswith("*")}
    assert sorted(SETTING_NAMES - exact) == [], "settings missing from the README table"
    _, cluster_lines = template_sections()
    cluster = variables(cluster_lines)
    for name in exact - SETTING_NAMES:
        pytest.fail(f"README lists {name}, which is not a setting")
    for pattern in (name for name in listed if name.endswith("*")):
        assert any(name.startswith(pattern[:-1]) for name in cluster), pattern
