-- The endpoint's counting rules, as SQL functions and the counted_calls view.
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
-- block ranges (a TID range scan) with one pass over its pages.
CREATE OR REPLACE VIEW analytics_heatmap.counted_calls AS
SELECT
    c.ctid AS row_tid,
    c.agency_id,
    c.campaign_id,
    c.client_id,
    analytics_heatmap.bucket_of(c.created_at) AS bucket,
    analytics_heatmap.is_connected(c.joined_at, c.end_reason::text) AS connected,
    analytics_heatmap.is_booked(c.analysis) AS booked
FROM @calls@ AS c
WHERE analytics_heatmap.is_ended(c.status::text);
REVOKE ALL ON analytics_heatmap.counted_calls FROM PUBLIC;
