"""From a scenario's raw outcomes to its figures, the goals they are held to, and the
results file (`test-results/faults.json`, or FAULTS_RESULTS) that `tests/faults/report.py`
turns into docs/reliability.md's table.

The phases of a scenario, by each request's send and answer times:

- before: answered before the fault;
- during: sent before the dependency was back and answered after the fault began;
- after:  sent once the dependency was back.

Recovery is measured on requests sent after the dependency was back: the time to the
first success, and the time to steady success (the end of the last failure, so that
from then on every request sent has succeeded).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.load import Outcome
from webapp.settings import PROJECT_ROOT

RESULTS_PATH = Path(
    os.environ.get("FAULTS_RESULTS", str(PROJECT_ROOT / "test-results" / "faults.json"))
)
RECOVERY_GOAL_SECONDS = 2.0


@dataclass
class LogFigures:
    """What the app's log says about the scenario (LOG_FORMAT=text, the default). Counts
    are of the lines from the fault on, but for the `_before_fault` ones."""

    bytes: int = 0
    unhandled_errors: int = 0  # webapp.web.problems: an error answered as a 500
    database_unavailable: int = 0  # webapp.web.problems: an error answered as a 503
    tracebacks: int = 0
    logging_errors: int = 0  # "--- Logging error ---": a log call that itself failed
    cache_unavailable: int = 0  # the cache breaker opening
    cache_recovered: int = 0  # the cache breaker closing
    cache_unavailable_before_fault: int = 0
    cache_recovered_before_fault: int = 0
    excerpt: list[str] = field(default_factory=list)


@dataclass
class Figures:
    scenario: str
    description: str
    clients: int
    outage_seconds: float
    requests: int = 0
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    first_success_s: float | None = None
    steady_s: float | None = None
    first_answer_after_back_s: float | None = None
    slowest_during_s: float | None = None
    first_cache_hit_s: float | None = None
    non_503_5xx: int = 0
    malformed: int = 0
    transport_errors: dict[str, int] = field(default_factory=dict)
    unavailable_without_retry_after: int = 0
    unexpected_4xx: int = 0
    stale_reads: int = 0
    acknowledged_writes: int = 0
    lost_writes: int = 0
    duplicates: int = 0
    unanswered_creates: int = 0
    # Creates retried after a 503 that were told "applied already" (their first try
    # committed as the database died): each is in the database once.
    applied_without_answer: int = 0
    log: LogFigures = field(default_factory=LogFigures)
    extra: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    passed: bool = False
    when: str = ""
    commit: str = ""


def phase(outcome: Outcome, fault_at: float, back_at: float) -> str:
    if outcome.ended < fault_at:
        return "before"
    if outcome.started < back_at:
        return "during"
    return "after"


def add_traffic(
    figures: Figures,
    outcomes: list[Outcome],
    *,
    fault_at: float,
    back_at: float,
    steady: bool,
) -> None:
    """Counts by phase and status, what went wrong, and the recovery times.

    `steady` says whether the scenario saw a steady run of successes before it stopped
    observing; without one, the time to steady success is unknown (None).
    """
    figures.requests = len(outcomes)
    by_phase: dict[str, Counter[str]] = {p: Counter() for p in ("before", "during", "after")}
    transport: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for outcome in outcomes:
        where = phase(outcome, fault_at, back_at)
        by_phase[where][outcome.label] += 1
        status = outcome.status
        if status is None:
            transport[str(outcome.failure)] += 1
        elif outcome.failure is not None and outcome.failure.startswith("stale read"):
            figures.stale_reads += 1
        elif outcome.failure is not None:
            figures.malformed += 1
        if status is not None and status >= 500 and status != 503:
            figures.non_503_5xx += 1
        if status == 503 and not outcome.retry_after:
            figures.unavailable_without_retry_after += 1
        if status is not None and 400 <= status < 500 and not outcome.applied_already:
            figures.unexpected_4xx += 1
        if not outcome.settled:
            key = f"{where} {outcome.operation} {outcome.label}"
            examples.setdefault(key, f"{key}: {outcome.failure or 'status ' + str(status)}")
    figures.statuses = {p: dict(sorted(c.items())) for p, c in by_phase.items()}
    figures.transport_errors = dict(transport)
    figures.examples = sorted(examples.values())[:30]

    during = [o for o in outcomes if phase(o, fault_at, back_at) == "during"]
    if during:
        figures.slowest_during_s = round(max(o.ended - o.started for o in during), 3)
    answered_after = [o.ended - back_at for o in outcomes if o.ok and o.ended >= back_at]
    if answered_after:
        figures.first_answer_after_back_s = round(min(answered_after), 3)
    sent_after = [o for o in outcomes if o.started >= back_at]
    hits = [o.ended - back_at for o in sent_after if o.ok and o.cache_hit]
    if hits:
        figures.first_cache_hit_s = round(min(hits), 3)
    successes = [o.ended - back_at for o in sent_after if o.settled]
    if successes:
        figures.first_success_s = round(min(successes), 3)
        if steady:
            bad_ends = [o.ended - back_at for o in sent_after if not o.settled]
            figures.steady_s = round(max([min(successes), *bad_ends]), 3)


def check_traffic(figures: Figures, *, dependency: str, window: float) -> None:
    """The goals every scenario's traffic is held to."""
    failures = figures.failures
    before = figures.statuses.get("before", {})
    if any(not label.startswith("2") for label in before):
        failures.append(f"not healthy before the fault: {before}")
    if figures.non_503_5xx:
        failures.append(f"{figures.non_503_5xx} answers were a 5xx other than 503")
    if figures.malformed:
        failures.append(f"{figures.malformed} answers were not well formed")
    if figures.transport_errors:
        failures.append(f"requests without an answer: {figures.transport_errors}")
    if figures.unavailable_without_retry_after:
        failures.append(f"{figures.unavailable_without_retry_after} 503s had no Retry-After")
    if figures.unexpected_4xx:
        failures.append(f"{figures.unexpected_4xx} answers were an unexpected 4xx")
    if figures.stale_reads:
        failures.append(f"{figures.stale_reads} reads were older than an acknowledged write")
    if figures.first_success_s is None:
        failures.append(f"no success within {window:.0f}s after {dependency} was back")
    elif figures.steady_s is None:
        failures.append(
            f"first success {figures.first_success_s}s after {dependency} was back, "
            f"but no steady success within {window:.0f}s"
        )
    elif figures.steady_s > RECOVERY_GOAL_SECONDS:
        failures.append(
            f"steady success {figures.steady_s}s after {dependency} was back "
            f"(goal < {RECOVERY_GOAL_SECONDS:.0f}s)"
        )
    if figures.lost_writes:
        failures.append(f"{figures.lost_writes} acknowledged writes lost")
    if figures.duplicates:
        failures.append(f"{figures.duplicates} titles stored more than once")


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


_CACHE_DOWN = "redis cache unavailable"
_CACHE_BACK = "redis cache reachable again"


def read_log(path: Path, fault_offset: int) -> LogFigures:
    """Count the app log's lines of interest (the default text format); `fault_offset` is
    the log's size when the fault began."""
    if not path.exists():
        return LogFigures()
    data = path.read_bytes()
    before = data[:fault_offset].decode(errors="replace").splitlines()
    text = data[fault_offset:].decode(errors="replace")
    lines = text.splitlines()
    figures = LogFigures(
        bytes=len(data),
        unhandled_errors=sum("unhandled error" in line for line in lines),
        database_unavailable=sum("database unavailable" in line for line in lines),
        tracebacks=len(_TRACEBACK.findall(text)),
        logging_errors=text.count("--- Logging error ---"),
        cache_unavailable=sum(_CACHE_DOWN in line for line in lines),
        cache_recovered=sum(_CACHE_BACK in line for line in lines),
        cache_unavailable_before_fault=sum(_CACHE_DOWN in line for line in before),
        cache_recovered_before_fault=sum(_CACHE_BACK in line for line in before),
    )
    for number, line in enumerate(lines):
        if "unhandled error" in line or _TRACEBACK.search(line):
            figures.excerpt = [line[:300] for line in lines[number : number + 12]]
            break
    return figures


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


def record(figures: Figures) -> None:
    """Write the scenario's figures into the results file, replacing its previous ones.

    Scenarios are merged by name, each with its own date and commit, so that running one
    scenario again keeps the others' figures.
    """
    figures.passed = not figures.failures
    figures.when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    figures.commit = _commit()
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    with (RESULTS_PATH.parent / (RESULTS_PATH.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once must not lose each other's
        try:
            results = json.loads(RESULTS_PATH.read_text())
        except (OSError, ValueError):
            results = {}
        scenarios = results.get("scenarios", {})
        scenarios[figures.scenario] = asdict(figures)
        results["scenarios"] = scenarios
        temporary = RESULTS_PATH.with_suffix(".tmp")
        temporary.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
        temporary.replace(RESULTS_PATH)
