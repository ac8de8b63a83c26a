"""Import and export at the doors: import jobs (upload, validate, store the records as
the job's parts, insert them in batches on a worker) and streamed exports. The formats
themselves are `webapp.transfer`, which knows no database, web or jobs.

- `schemas`: the shapes of the API (ImportJobRead, ImportProblem).
- `service`: ImportService (create a job from an upload, read one), the parts' encoding.
- `kind`: the import JobKind: a batch of records per part, idempotent by derived ids.
- `export`: the export as a stream of bytes, reading the database a batch at a time.
- `api`: /api/imports and /api/export; `pages`: the "Import and export" page and the
  import job's page (the shared job progress partial, `templates/jobs/_progress.html`).
"""
