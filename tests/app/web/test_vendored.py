"""The vendored front-end files are exactly the ones static/vendor/README.md records."""

from __future__ import annotations

import hashlib
import re

import pytest

from webapp.settings import PROJECT_ROOT

VENDOR = PROJECT_ROOT / "static" / "vendor"
# Pinned here as well as in the README: changing the file means changing both, on purpose.
HTMX = ("htmx/htmx.min.js", "htmx.org@2.0.11")
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
# The server-sent events extension (the live updates' `sse-connect`, `sse:changed`).
HTMX_SSE = ("htmx-ext-sse/sse.min.js", "htmx-ext-sse@2.2.4")
HTMX_SSE_SHA256 = "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"
ROW = re.compile(
    r"^\|\s*(?P<file>[\w./-]+)\s*\|(?P<package>[^|]+)\|[^|]+\|\s*(?P<sha256>[0-9a-f]{64})\s*\|$"
)


def recorded() -> dict[str, tuple[str, str]]:
    """file -> (npm package cell, sha256), from the README's table."""
    rows = {}
    for line in (VENDOR / "README.md").read_text().splitlines():
        if match := ROW.match(line.strip()):
            rows[match["file"]] = (match["package"].strip(), match["sha256"])
    return rows


def test_the_readme_records_htmx_at_its_pinned_version_and_checksum() -> None:
    package, sha256 = recorded()[HTMX[0]]
    assert package.startswith(HTMX[1])
    assert sha256 == HTMX_SHA256


def test_the_readme_records_the_sse_extension_at_its_pinned_version_and_checksum() -> None:
    package, sha256 = recorded()[HTMX_SSE[0]]
    assert package.startswith(HTMX_SSE[1])
    assert sha256 == HTMX_SSE_SHA256


@pytest.mark.parametrize("name", sorted(recorded()))
def test_each_recorded_file_has_its_checksum(name: str) -> None:
    digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
    assert digest == recorded()[name][1]


def test_every_vendored_file_is_recorded() -> None:
    shipped = {
        str(path.relative_to(VENDOR))
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name not in {"README.md", "LICENSE"}
    }
    assert shipped == set(recorded())
