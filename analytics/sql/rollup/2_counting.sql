-- The endpoint's counting rules, as SQL functions, and counted_calls().
-- Part of the heatmap's rollup, run by analytics.rollup.sql in one transaction with the
-- others, @calls@ replaced by the calls table's quoted, qualified name. Every statement may
-- run again: CREATE ... IF NOT EXISTS, CREATE OR REPLACE.

-- The endpoint's counting rules, written once for the triggers, the backfill and verify.
-- They must agree with analytics.models (ENDED, CONNECTED, MEETING_BOOKED); the tests
-- compare rollup and raw answers to prove it. Text comparisons, so an enum column
-- without one of these labels still works.
CREATE OR REPLACE FUNCTION analytics_heatmap.bucket_of(created_at timestamptz)
    RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_bin('15 minutes'::interval, created_at, '2000-01-01 00:00:00+00'::timestamptz);

CREATE OR REPLACE FUNCTION analytics_heatmap.is_ended(status text)
    RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status = 'ended';

CREATE OR REPLACE FUNCTION analytics_heatmap.is_connected(joined_at timestamptz, end_reason text)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (joined_at IS NOT NULL AND end_reason IS DISTINCT FROM 'unjoined')::integer;

CREATE OR REPLACE FUNCTION analytics_heatmap.is_booked(analysis jsonb)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN COALESCE((analysis -> 'sdr' -> 'meeting_booked') = 'true'::jsonb, false)::integer;

-- The lead's clock (analytics.heatmap.lead_clock states the rule; the raw scan's SQL,
-- analytics/heatmap/lead_scan.py, is the same): the number without its spaces, '-', '.',
-- '(' and ')'; then, when that is E.164, the integer the map's ranges are keyed by
-- (lead_clock.lookup_key); NULL otherwise. Both inline: no call per row.
CREATE OR REPLACE FUNCTION analytics_heatmap.stripped_number(phone_number text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN replace(replace(replace(replace(replace(phone_number, ' ', ''), '-', ''), '.', ''),
                           '(', ''), ')', '');

-- '+', a first digit 1-9, 7 to 15 ASCII digits in all: without its digits, n is '+'.
CREATE OR REPLACE FUNCTION analytics_heatmap.lead_key(n text)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN length(n) BETWEEN 8 AND 16 AND substr(n, 1, 1) = '+' AND substr(n, 2, 1) <> '0'
            AND replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
                n, '0', ''), '1', ''), '2', ''), '3', ''), '4', ''), '5', ''), '6', ''), '7', ''),
                '8', ''), '9', '') = '+'
        THEN rpad(substr(n, 2, 9), 9, '0')::bigint * 10 + least(length(n) - 1, 9)
    END;

-- The zone group of a lookup key: 0 for NULL (not E.164) and for a key in no prefix's range.
-- load_lead_map() writes the map into this function's body as two constant arrays, so
-- a lookup is one binary search (width_bucket) with nothing read per statement, and every
-- writer sees the map of the latest install whatever its snapshot (a function's body is
-- read from the catalog, not from the writer's snapshot of a table). Until then: no group.
DO $$
BEGIN
    IF to_regprocedure('analytics_heatmap.lead_group(bigint)') IS NULL THEN
        CREATE FUNCTION analytics_heatmap.lead_group(key bigint)
            RETURNS smallint LANGUAGE sql STABLE PARALLEL SAFE
            RETURN 0::smallint;
    END IF;
END
$$;

-- Writes the app's map (its tables, passed by name) into lead_group() and its release
-- into rollup_state.map_version, both read in one statement so they always agree; tables
-- without a map give no group and no release (clock=lead then reads calls). Run by install
-- before it creates the triggers, and by a remap under their lock (analytics.rollup.install).
CREATE OR REPLACE FUNCTION analytics_heatmap.load_lead_map(ranges regclass, zone_map regclass)
    RETURNS text LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    loaded text;
    range_keys text;
    range_groups text;
    lookup text := '0::smallint';
BEGIN
    EXECUTE format(
        'SELECT (SELECT version FROM %s), array_agg(key ORDER BY key)::text, '
        'array_agg(group_id ORDER BY key)::text FROM %s',
        zone_map, ranges
    ) INTO loaded, range_keys, range_groups;
    IF loaded IS NULL OR range_keys IS NULL THEN
        loaded := NULL;
    ELSE
        lookup := format(
            'COALESCE((%L::smallint[])[width_bucket(key, %L::bigint[])], 0::smallint)',
            range_groups, range_keys
        );
    END IF;
    EXECUTE 'CREATE OR REPLACE FUNCTION analytics_heatmap.lead_group(key bigint) '
        'RETURNS smallint LANGUAGE sql STABLE PARALLEL SAFE RETURN ' || lookup;
    UPDATE analytics_heatmap.rollup_state SET map_version = loaded;
    RETURN loaded;
END
$$;

-- Every counted call as the rollup sees it; row_tid lets the backfill read the table in
-- block ranges (a TID range scan) with one pass over its pages. A function with its body
-- as text, not a view: PostgreSQL records no dependency on calls' columns, so the host's
-- own migrations of calls are never blocked by the rollup. LANGUAGE sql and STABLE, so
-- it is inlined into each query, where the query's conditions reach the scan. The number
-- is stripped once per row in a LATERAL subquery that OFFSET 0 keeps whole (inlined
-- into lead_key it would be stripped seven times), which still lets those conditions
-- reach calls.
CREATE OR REPLACE FUNCTION analytics_heatmap.counted_calls()
    RETURNS TABLE (
        row_tid tid, agency_id uuid, campaign_id uuid, client_id uuid, bucket timestamptz,
        lead_group smallint, connected integer, booked integer
    )
    LANGUAGE sql STABLE AS $$
SELECT
    c.ctid,
    c.agency_id,
    c.campaign_id,
    c.client_id,
    analytics_heatmap.bucket_of(c.created_at),
    analytics_heatmap.lead_group(analytics_heatmap.lead_key(s.n)),
    analytics_heatmap.is_connected(c.joined_at, c.end_reason::text),
    analytics_heatmap.is_booked(c.analysis)
FROM @calls@ AS c
CROSS JOIN LATERAL (
    SELECT analytics_heatmap.stripped_number(c.phone_number) AS n OFFSET 0
) AS s
WHERE analytics_heatmap.is_ended(c.status::text)
$$;

-- Record calls' shape as the rollup's counts now match it (calls_shape, 1_schema.sql):
-- the type of every column counted_calls() and the triggers read, and the table's
-- storage. Run by install (in the backfill's snapshot), by a full repair(), by a verify
-- --repair that found nothing, and by a TRUNCATE of calls (which empties both).
CREATE OR REPLACE FUNCTION analytics_heatmap.record_calls_shape(p_calls regclass, p_by text)
    RETURNS void LANGUAGE sql SET search_path = '' AS $$
INSERT INTO analytics_heatmap.calls_shape AS s (calls, relfilenode, columns, recorded_by)
SELECT c.oid, c.relfilenode,
       (SELECT jsonb_object_agg(a.attname, jsonb_build_array(a.atttypid::bigint, a.atttypmod))
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname = ANY (ARRAY['agency_id', 'campaign_id', 'client_id', 'status',
                'created_at', 'joined_at', 'end_reason', 'analysis', 'phone_number'])),
       p_by
FROM pg_catalog.pg_class AS c
WHERE c.oid = p_calls
ON CONFLICT (singleton) DO UPDATE SET
    calls = excluded.calls, relfilenode = excluded.relfilenode, columns = excluded.columns,
    recorded_by = excluded.recorded_by, recorded_at = now();
$$;

-- A ready rollup of an older version, upgraded in place, has no record yet: the shape
-- calls has now is taken as the one it counted (a change made before the upgrade is
-- not seen; a verify is). A fresh install records it in its backfill instead.
SELECT analytics_heatmap.record_calls_shape('@calls@', 'upgrade')
WHERE NOT EXISTS (SELECT FROM analytics_heatmap.calls_shape)
    AND EXISTS (SELECT FROM analytics_heatmap.rollup_state WHERE ready);
