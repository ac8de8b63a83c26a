"""ImportService: an import job from an uploaded file (validated whole at the door, its
records stored as the job's parts), and reading one back.

The file is parsed in the request (in a thread): a file with any problem imports nothing
and is answered at once with every problem and where it is (InvalidFile, 422), unless
the caller chose `valid_only`, when the valid records are imported and the problems are
kept as the job's `errors`. A file refused whole (not UTF-8, another shape, too large...)
is refused either way. The records go to the database as parts (`job_part`): part 0 is
the report (the file's lists, its problems and warnings), parts 1..n hold up to
IMPORT_BATCH_SIZE tasks each, one part per batch of the worker (`webapp.portability.kind`).
The job's row and its parts commit before its message is sent, as a restore job's do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final
from uuid import UUID

import anyio.to_thread
import msgspec
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts.caller import Caller
from webapp.cache import ReadCache
from webapp.clock import utcnow
from webapp.errors import InvalidFile, NotFound
from webapp.jobs import runner
from webapp.jobs.kinds import JobSender
from webapp.jobs.models import Job, JobPart, JobStatus, percent_done
from webapp.lists import access
from webapp.lists.models import TaskList
from webapp.portability.schemas import ImportJobRead, ImportProblem
from webapp.transfer.detect import parse_upload
from webapp.transfer.records import (
    DEFAULT_MAX_BYTES,
    ListRecord,
    ParseOptions,
    ParseResult,
    Problem,
    TaskRecord,
)

IMPORT_KIND: Final = "import"
# The largest file an import takes (the request may be a little larger: the form).
MAX_UPLOAD_BYTES: Final = DEFAULT_MAX_BYTES
# Tasks per part, and so per batch of the worker.
IMPORT_BATCH_SIZE: Final = 1000
# A part is cut short before its records' text reaches this (a MEDIUMBLOB holds 16 MiB).
PART_TEXT_BUDGET: Final = 4 * 1024 * 1024
FILENAME_MAX_LENGTH: Final = 200


class ImportReport(msgspec.Struct, kw_only=True):
    """Part 0 of an import job: what the parse found besides the tasks."""

    format: str
    lists: list[ListRecord]
    problems: list[Problem]
    warnings: list[Problem]
    ignored: dict[str, int]
    problem_count: int
    warning_count: int


_encoder = msgspec.msgpack.Encoder()
_report_decoder = msgspec.msgpack.Decoder(ImportReport)
_tasks_decoder = msgspec.msgpack.Decoder(list[TaskRecord])


def decode_report(data: bytes) -> ImportReport:
    return _report_decoder.decode(data)


def decode_tasks(data: bytes) -> list[TaskRecord]:
    return _tasks_decoder.decode(data)


def parts_of(tasks: list[TaskRecord]) -> Iterator[list[TaskRecord]]:
    """The tasks in parts of at most IMPORT_BATCH_SIZE, and of bounded size."""
    part: list[TaskRecord] = []
    size = 0
    for task in tasks:
        weight = 4 * (len(task.title) + len(task.notes)) + 256
        if part and (len(part) >= IMPORT_BATCH_SIZE or size + weight > PART_TEXT_BUDGET):
            yield part
            part, size = [], 0
        part.append(task)
        size += weight
    if part:
        yield part


def problem_read(problem: Problem) -> ImportProblem:
    return ImportProblem(
        location=problem.location,
        message=problem.message,
        line=problem.line,
        column=problem.column,
        component=problem.component,
        property=problem.property,
        path=problem.path,
    )


def to_read(job: Job, report: ImportReport | None) -> ImportJobRead:
    params = job.params
    list_id = params.get("list_id")
    return ImportJobRead(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        format=params["format"],
        filename=params["filename"],
        list_id=UUID(list_id) if list_id else None,
        valid_only=bool(params.get("valid_only")),
        total=job.total,
        imported=job.done,
        skipped=job.skipped,
        percent=percent_done(job.status, job.total, job.done + job.skipped),
        errors=[problem_read(p) for p in report.problems] if report else [],
        error_count=report.problem_count if report else 0,
        warnings=[problem_read(p) for p in report.warnings] if report else [],
        ignored=dict(report.ignored) if report else {},
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
    )


def refusal(result: ParseResult) -> InvalidFile:
    """The answer to a file with problems: every problem kept, and how many in all."""
    problems = [(problem.location, problem.message) for problem in result.problems]
    if result.refused:
        detail = "the file cannot be imported: " + "; ".join(
            problem.message for problem in result.problems if problem.fatal
        )
    else:
        shown = len(result.problems)
        more = f" (the first {shown} are listed)" if result.problem_count > shown else ""
        detail = (
            f"the file has {result.problem_count} "
            f"{'problem' if result.problem_count == 1 else 'problems'}{more}; nothing was "
            "imported. Correct them, or import only the valid rows (valid_only)."
        )
    return InvalidFile(detail, problems)


def parse(data: bytes, filename: str | None) -> ParseResult:
    return parse_upload(data, filename=filename, options=ParseOptions(max_bytes=MAX_UPLOAD_BYTES))


class ImportService:
    """Create and read import jobs. One instance per session."""

    def __init__(
        self,
        session: AsyncSession,
        cache: ReadCache,
        caller: Caller,
        sender: JobSender | None = None,
    ) -> None:
        self.session = session
        self.cache = cache
        self.owner = caller.account_id
        self.sender = sender

    async def create(
        self,
        data: bytes,
        *,
        filename: str | None,
        list_id: UUID | None = None,
        valid_only: bool = False,
    ) -> ImportJobRead:
        """Validate the file and record an import job for it, then hand it to the workers.

        `list_id`: every task goes to this list (the caller must be allowed to change it:
        NotFound for a stranger, Forbidden for a viewer); None: to the lists the file
        names, made where the caller has none of that name (tasks with none: the Inbox).
        Raises InvalidFile (and records nothing) for a file with problems, unless
        `valid_only` and the file is not refused whole.
        """
        if list_id is not None:
            await access.require(self.session, self.owner, list_id, write=True)
        # The parse takes seconds for the largest files: off the event loop.
        result = await anyio.to_thread.run_sync(parse, data, filename)
        if result.refused or (not result.valid and not valid_only) or result.format is None:
            raise refusal(result)
        now = utcnow()
        job = Job(
            kind=IMPORT_KIND,
            owner_id=self.owner,
            created_at=now,
            updated_at=now,
            status=JobStatus.QUEUED.value,
            total=len(result.tasks),
            done=0,
            skipped=0,
        )
        parts = list(parts_of(result.tasks))
        job.params = {
            "format": result.format.value,
            "filename": (filename or "")[:FILENAME_MAX_LENGTH],
            "list_id": str(list_id) if list_id else None,
            "valid_only": valid_only,
            "parts": len(parts),
        }
        self.session.add(job)
        await self.session.flush()
        report = ImportReport(
            format=result.format.value,
            lists=result.lists,
            problems=result.problems,
            warnings=result.warnings,
            ignored=result.ignored,
            problem_count=result.problem_count,
            warning_count=result.warning_count,
        )
        # One statement per part: a multi-row INSERT of them all could pass MySQL's
        # max_allowed_packet.
        await self._store(job.id, 0, _encoder.encode(report))
        for number, part in enumerate(parts, start=1):
            await self._store(job.id, number, _encoder.encode(part))
        created = to_read(job, report)
        await self.session.commit()
        await runner.send(self.sender, IMPORT_KIND, created.id)
        return created

    async def writable_lists(self) -> list[tuple[UUID, str]]:
        """The lists the caller may import into (its own, then those it edits), by name."""
        shared = await access.memberships(self.session, self.owner)
        editable = [list_id for list_id, role in shared.items() if role.writes]
        rows = await self.session.execute(
            select(TaskList.id, TaskList.name)
            .where((TaskList.owner_id == self.owner) | TaskList.id.in_(editable))
            .order_by(TaskList.is_inbox.desc(), TaskList.name, TaskList.id)
        )
        return [(row.id, row.name) for row in rows]

    async def _store(self, job_id: UUID, number: int, data: bytes) -> None:
        await self.session.execute(insert(JobPart).values(job_id=job_id, part=number, data=data))

    async def get(self, job_id: UUID) -> ImportJobRead:
        """One of the caller's import jobs and its progress, as stored now."""
        job = await self.session.get(Job, job_id, populate_existing=True)
        if job is None or job.kind != IMPORT_KIND or job.owner_id != self.owner:
            raise NotFound(f"import job {job_id} does not exist")
        data = await self.session.scalar(
            select(JobPart.data).where(JobPart.job_id == job_id, JobPart.part == 0)
        )
        return to_read(job, decode_report(data) if data is not None else None)
