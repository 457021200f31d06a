-- 009_stats: what the dashboard, GET /api/stats and GET /metrics read
-- (sql/store_stats.c). Their windowed queries (tasks finished per minute over
-- the last hour, run time percentiles and histogram buckets of the same
-- hour) read only the rows that finished in the window through this index,
-- however large the table. Partial: a PENDING row, inserted with no
-- finished_at, adds no entry; a row gets one when its final state is written.
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;
