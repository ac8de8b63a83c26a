"""Import and export formats: JSON, CSV and iCalendar, read and written without the
database, the web or jobs (the import and export jobs call these functions).

- `records`: the neutral shapes (ListRecord, TaskRecord, Problem, ParseResult,
  ParseOptions) every format is read into and written from.
- `detect`: `parse_upload`, which detects a file's format from its content and reads it.
- `json_format`, `csv_format`, `ics_format`: our JSON (lossless, with the trash as an
  option), our CSV (for spreadsheets), iCalendar VTODOs; each has a streaming writer
  and a reader. `todoist_format` reads Todoist's CSV export.
- `source`, `csv_rows`, `fields`, `chunks`: what the formats share (the bytes as text
  within limits, safe CSV reading, the app's rules for each field, output chunks).

Exports stream. Each format has a writer class whose methods take a batch of records and
return its bytes (`JsonExportWriter`, `CsvExportWriter`, `IcsExportWriter`): an async job
reads the database a batch at a time and sends each batch's bytes on, so memory is one
batch whatever the size of the account. `render_json`, `render_csv` and `render_ics`
wrap the same writers as sync generators over iterables, yielding chunks of about 64 KiB
(for a sync caller, or a thread fed from an iterable that reads in batches).
"""
