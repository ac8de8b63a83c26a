"""Exports stream: the memory a render holds does not grow with the number of tasks.

Measured with tracemalloc (Python's allocations) while the chunks are consumed and
dropped, from tasks made one at a time. JSON and CSV are measured at 100,000 tasks;
iCalendar, whose writer (icalendar objects per task, about 0.2 ms each: 20 s for 100,000)
is four times slower again under tracemalloc, at 2,000 against 200: the same flatness,
in seconds.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from tests.app.transfer.samples import LISTS, NOW, many_tasks
from webapp.transfer.csv_format import render_csv
from webapp.transfer.ics_format import render_ics
from webapp.transfer.json_format import render_json

KiB = 1024
MiB = 1024 * KiB

Render = Callable[[int], Iterator[bytes]]
RENDERERS: dict[str, Render] = {
    "json": lambda count: render_json(LISTS, many_tasks(count), exported_at=NOW),
    "csv": lambda count: render_csv(many_tasks(count)),
    "ics": lambda count: render_ics(many_tasks(count), calendar_name="Home", dtstamp=NOW),
}


def streamed(render: Render, count: int) -> tuple[int, int]:
    """The bytes written, and the most memory held at once while writing them."""
    tracemalloc.start()
    try:
        written = 0
        for chunk in render(count):
            written += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return written, peak


@pytest.mark.parametrize(
    ("name", "small", "large"),
    [("json", 1_000, 100_000), ("csv", 1_000, 100_000), ("ics", 200, 2_000)],
)
def test_memory_stays_flat_however_many_tasks(name: str, small: int, large: int) -> None:
    render = RENDERERS[name]
    small_written, small_peak = streamed(render, small)
    large_written, large_peak = streamed(render, large)
    assert large_written > 9 * small_written
    # A chunk (64 KiB), its join, and one task's objects: not the output.
    assert large_peak < 1 * MiB
    assert large_peak < small_peak + 256 * KiB
