-- The triggers on calls, created last: creating one takes a lock that makes writers of
-- calls wait until the install's first transaction commits, so it is held for
-- milliseconds. Part of the heatmap's rollup, run by analytics.rollup.sql.
-- Statement-level with transition tables: one multi-row INSERT, UPDATE or DELETE, or a
-- COPY, costs one pass over its rows, not a function call per row.

CREATE OR REPLACE TRIGGER analytics_heatmap_insert AFTER INSERT ON @calls@
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_heatmap.count_inserted();
CREATE OR REPLACE TRIGGER analytics_heatmap_update AFTER UPDATE ON @calls@
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_heatmap.count_updated();
CREATE OR REPLACE TRIGGER analytics_heatmap_delete AFTER DELETE ON @calls@
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_heatmap.count_deleted();
CREATE OR REPLACE TRIGGER analytics_heatmap_truncate AFTER TRUNCATE ON @calls@
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_heatmap.count_truncated();
