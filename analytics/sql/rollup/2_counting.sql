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

-- Every counted call as the rollup sees it; row_tid lets the backfill read the table in
-- block ranges (a TID range scan) with one pass over its pages. A function with its body
-- as text, not a view: PostgreSQL records no dependency on calls' columns, so the host's
-- own migrations of calls are never blocked by the rollup. LANGUAGE sql and STABLE, so
-- it is inlined into each query, where the query's conditions reach the scan.
CREATE OR REPLACE FUNCTION analytics_heatmap.counted_calls()
    RETURNS TABLE (
        row_tid tid, agency_id uuid, campaign_id uuid, client_id uuid, bucket timestamptz,
        connected integer, booked integer
    )
    LANGUAGE sql STABLE AS $$
SELECT
    c.ctid,
    c.agency_id,
    c.campaign_id,
    c.client_id,
    analytics_heatmap.bucket_of(c.created_at),
    analytics_heatmap.is_connected(c.joined_at, c.end_reason::text),
    analytics_heatmap.is_booked(c.analysis)
FROM @calls@ AS c
WHERE analytics_heatmap.is_ended(c.status::text)
$$;
