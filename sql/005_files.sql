-- 005_files: uploaded files and what convert.file made of them (issue 18).

-- One row per stored file: an upload (POST /api/files) or a conversion's
-- output. The bytes live here, not on disk: nothing is ever written to a
-- path built from a user's file name, and an output commits with its task's
-- result (the task engine's savepoint), so a killed conversion stores
-- nothing and a redelivered one stores one output (task_id is unique).
CREATE TABLE files (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,          -- as uploaded (metadata only), or the output's name
    format        text,                   -- convert_identify(): "csv", "png", ...; NULL: unknown
    content_type  text NOT NULL,          -- from the bytes, never from the client's word
    size          bigint NOT NULL,
    sha256        text NOT NULL,          -- lower-case hex of data
    data          bytea NOT NULL,
    source_id     uuid REFERENCES files (id) ON DELETE SET NULL, -- an output: its input
    task_id       uuid UNIQUE,            -- an output: the conversion that made it (no FK:
                                          -- the file outlives the task's retention)
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_created_idx ON files (created_at DESC, id);
CREATE INDEX files_source_idx ON files (source_id);

-- A long task's progress, 0..100, written while it runs (task_progress()
-- clamps it): GET /api/tasks/{id} and the task page show it. NULL: never
-- reported. No CHECK: on a large tasks table it would be a full scan under
-- an exclusive lock, stalling every worker while the migration runs.
ALTER TABLE tasks ADD COLUMN progress smallint;

-- Stored uncompressed (still out of line): a download reads the value in
-- pieces with substring(), which then fetches only the pieces' chunks; a
-- compressed value would be decompressed from its start for every piece.
-- Images, PDFs and office documents are compressed already anyway.
ALTER TABLE files ALTER COLUMN data SET STORAGE EXTERNAL;
