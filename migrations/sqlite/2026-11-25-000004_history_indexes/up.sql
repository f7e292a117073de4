-- Indexes the benchmark suite showed missing at 1M snapshots (docs/BENCHMARKS.md).
-- A POP's snapshots are paged by id: without (pop_id, id) every page reads and sorts all of the
-- POP's snapshots, payloads included.
CREATE INDEX popsnapshot_pop_id_id_idx ON pop_snapshots (pop_id, id);
-- pop_change_log.snapshot_id is ON DELETE SET NULL: without an index every deleted snapshot
-- (retention, deleting a POP) scans the whole change log.
CREATE INDEX popchangelog_snapshot_id_idx ON pop_change_log (snapshot_id);
