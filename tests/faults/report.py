"""The fault suite's figures as markdown, for docs/reliability.md.

    python -m tests.faults.report                        # print the tables
    python -m tests.faults.report --write docs/reliability.md

`--write` replaces what lies between the file's `<!-- faults:begin -->` and
`<!-- faults:end -->` lines, and leaves the rest of the page as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tests.faults.figures import RESULTS_PATH

BEGIN = "<!-- faults:begin -->"
END = "<!-- faults:end -->"
ORDER = (
    "mariadb-sigkill",
    "mariadb-sigstop",
    "redis-sigkill",
    "worker-sigkill-rabbitmq",
    "worker-sigkill-redis",
)


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{label}: {count}" for label, count in statuses.items()) or "none"


def _seconds(value: float | None) -> str:
    return "not within the window" if value is None else f"{value:.2f} s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _order(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def _job(extra: dict[str, Any]) -> str:
    if "job_status" not in extra:
        return ""
    done = extra.get("job_done_after_worker_ready_s")
    timing = f", {done:.1f} s after the new worker was ready" if done is not None else ""
    return (
        f"job {extra['job_status']} ({extra['job_restored']}/{extra['job_total']}){timing}; "
        f"killed at {extra.get('restored_at_kill')} restored; new worker ready in "
        f"{extra.get('new_worker_start_s')} s; tasks by version: "
        f"{extra.get('trashed_tasks_by_version')}"
    )


def render(results: dict[str, Any]) -> str:
    scenarios = sorted(results.get("scenarios", {}).values(), key=lambda s: _order(s["scenario"]))
    lines = [
        "| scenario | result | while down (sent before back) | after back | first success | "
        "steady | writes acked / lost / duplicated | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        statuses = s["statuses"]
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"**{s['scenario']}**: {s['description']}, {s['clients']} clients",
                    "pass" if s["passed"] else "**FAIL**",
                    _counts(statuses.get("during", {})),
                    _counts(statuses.get("after", {})),
                    _seconds(s["first_success_s"]),
                    _seconds(s["steady_s"]),
                    f"{s['acknowledged_writes']} / {s['lost_writes']} / {s['duplicates']}",
                    f"{s['commit']}, {s['when'][:10]}",
                )
            )
            + " |"
        )
    lines += ["", "What each scenario missed, and the evidence:", ""]
    for s in scenarios:
        log = s["log"]
        details = [
            f"slowest answer while down {_seconds(s['slowest_during_s'])}",
            f"app log {log['bytes'] / 1e6:.1f} MB, {log['tracebacks']} tracebacks "
            f"({log.get('logging_errors', 0)} of them '--- Logging error ---'), "
            f"{log['unhandled_errors']} 'unhandled error', "
            f"{log['database_unavailable']} 'database unavailable'",
            f"cache breaker from the fault on: {log['cache_unavailable']} opened / "
            f"{log['cache_recovered']} closed (before it: "
            f"{log['cache_unavailable_before_fault']} / {log['cache_recovered_before_fault']})",
        ]
        if s.get("first_cache_hit_s") is not None:
            details.append(f"first cache hit {_seconds(s['first_cache_hit_s'])} after back")
        if job := _job(s.get("extra", {})):
            details.append(job)
        verdict = "; ".join(s["failures"]) if s["failures"] else "nothing"
        lines.append(f"- **{s['scenario']}** missed: {verdict}.")
        lines.append(f"  Figures: {'; '.join(details)}.")
    return "\n".join(lines) + "\n"


def write_into(page: Path, table: str) -> None:
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} has no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


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
    table = render(results)
    if args.write:
        write_into(args.write, table)
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
