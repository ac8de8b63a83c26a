"""The replicas proof's figures (tests/cluster/test_replicas.py): each test writes its own
section into `test-results/replicas.json` (or REPLICAS_RESULTS), and this turns them into
the markdown block of docs/reliability.md's "Replicas behind the proxy".

    python -m tests.cluster.report                               # print the block
    python -m tests.cluster.report --write docs/reliability.md   # replace it in the page

`--write` replaces what lies between `<!-- replicas:begin -->` and `<!-- replicas:end -->`
and leaves the rest of the page as it is.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webapp.settings import PROJECT_ROOT

RESULTS_PATH = Path(
    os.environ.get("REPLICAS_RESULTS", str(PROJECT_ROOT / "test-results" / "replicas.json"))
)
BEGIN = "<!-- replicas:begin -->"
END = "<!-- replicas:end -->"
ORDER = (
    "mixed-load",
    "bulk-restore",
    "app-sigterm-slow-request",
    "app-sigterm-under-load",
    "app-sigkill-under-load",
    "worker-sigterm-mid-restore",
)


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip()


def record_and_check(
    section: str, description: str, figures: dict[str, Any], failures: list[str]
) -> None:
    """Write the section's figures (whatever they say), then fail the test on any miss."""
    entry = {
        "description": description,
        "passed": not failures,
        "failures": failures,
        "figures": figures,
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    with (RESULTS_PATH.parent / (RESULTS_PATH.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            results = json.loads(RESULTS_PATH.read_text())
        except (OSError, ValueError):
            results = {}
        results.setdefault("sections", {})[section] = entry
        temporary = RESULTS_PATH.with_suffix(".tmp")
        temporary.write_text(json.dumps(results, indent=2) + "\n")
        temporary.replace(RESULTS_PATH)
    if failures:
        details = "\n".join(f"- {failure}" for failure in failures)
        pytest.fail(f"{section}: goals missed\n{details}\nfigures: {figures}", pytrace=False)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{label}: {count}" for label, count in sorted(counts.items())) or "none"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        text = _counts(value) if all(isinstance(v, int) for v in value.values()) else str(value)
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, Any]) -> str:
    sections = results.get("sections", {})
    names = sorted(sections, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    lines: list[str] = []
    for name in names:
        section = sections[name]
        verdict = "pass" if section["passed"] else "**FAIL**: " + "; ".join(section["failures"])
        lines += [
            f"**{name}**: {section['description']} ({verdict}; "
            f"{section['commit']}, {section['when'][:10]})",
            "",
            "| figure | value |",
            "|---|---|",
            *(f"| {key} | {_cell(value)} |" for key, value in section["figures"].items()),
            "",
        ]
    return "\n".join(lines)


def write_into(page: Path, block: str) -> None:
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} has no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{block}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=RESULTS_PATH)
    parser.add_argument("--write", type=Path, metavar="PAGE", help="update this markdown page")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as error:
        print(f"no results to report in {args.results}: {error}", file=sys.stderr)
        return 1
    block = render(results)
    if args.write:
        write_into(args.write, block)
    else:
        print(block, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
