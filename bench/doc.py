"""docs/benchmarks.md, where each benchmark keeps its latest results between its own
markers (rewritten by each run; the rest of the page is kept)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def verdict(met: bool) -> str:
    return "met" if met else "**MISSED**"


def write_section(table: str, *, heading: str, begin: str, end: str) -> None:
    """Put `table` between `begin` and `end` in the page; the first time, at the end of
    the page under `heading`."""
    page = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{table}\n{end}"
    if begin in page and end in page:
        page = page[: page.index(begin)] + block + page[page.index(end) + len(end) :]
    else:
        page = page.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(page)
    print(f"\nwritten to {DOC.relative_to(ROOT)}")
