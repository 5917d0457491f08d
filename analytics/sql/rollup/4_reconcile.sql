-- differences() and repair(): verify and mend the rollup against calls.
-- Part of the heatmap's rollup, run by analytics.rollup.sql in one transaction with the
-- others, @calls@ replaced by the calls table's quoted, qualified name. Every statement may
-- run again: CREATE ... IF NOT EXISTS, CREATE OR REPLACE.

-- Every bucket where the rollup (folded and pending, as the heatmap reads it) and a
-- fresh count of calls differ, all four grains, read in one statement and so in one
-- snapshot: a write committing meanwhile is either in both or in neither. Zero rows
-- count as absent. lead_group is NULL for the two grains without it. p_agency NULL
-- compares every agency.
-- STABLE, so it reads its caller's snapshot, and neither SECURITY DEFINER nor SET, so
-- PostgreSQL inlines it: given one agency, it reads that agency through the indexes.
-- Its body is text, so nothing depends on the tables it reads; every name in it is
-- qualified, so no search_path can redirect it.
CREATE OR REPLACE FUNCTION analytics_heatmap.differences(p_agency uuid DEFAULT NULL)
    RETURNS TABLE (
        grain text, agency_id uuid, campaign_id uuid, client_id uuid, bucket timestamptz,
        lead_group smallint,
        rollup_total bigint, rollup_connected bigint, rollup_booked bigint,
        fresh_total bigint, fresh_connected bigint, fresh_booked bigint
    )
    LANGUAGE sql STABLE AS $$
    -- OFFSET 0 keeps the subquery whole: the rows are narrowed to the counted values
    -- before grouping, so no sort or hash carries an analysis document.
    WITH fresh AS MATERIALIZED (
        SELECT k.agency_id, k.campaign_id, k.client_id, k.bucket, k.lead_group,
               count(*) AS total, sum(k.connected) AS connected, sum(k.booked) AS booked
        FROM (
            SELECT c.agency_id, c.campaign_id, c.client_id, c.bucket, c.lead_group,
                   c.connected, c.booked
            FROM analytics_heatmap.counted_calls() AS c
            WHERE p_agency IS NULL OR c.agency_id = p_agency
            OFFSET 0
        ) AS k
        GROUP BY 1, 2, 3, 4, 5
    ),
    -- Rollup rows and fresh counts side by side, summed per key: GROUP BY takes NULL
    -- campaigns and clients as equal, as the rollup's NULLS NOT DISTINCT keys do.
    lead_segments AS (
        SELECT 'lead_segment'::text AS grain, u.agency_id, u.campaign_id, u.client_id,
               u.bucket, u.lead_group,
               sum(u.r_total)::bigint AS rollup_total, sum(u.r_connected)::bigint AS rollup_connected,
               sum(u.r_booked)::bigint AS rollup_booked, sum(u.f_total)::bigint AS fresh_total,
               sum(u.f_connected)::bigint AS fresh_connected, sum(u.f_booked)::bigint AS fresh_booked
        FROM (
            SELECT s.agency_id, s.campaign_id, s.client_id, s.bucket, s.lead_group,
                   s.total_calls::bigint AS r_total, s.connected_calls::bigint AS r_connected,
                   s.meetings_booked::bigint AS r_booked,
                   0::bigint AS f_total, 0::bigint AS f_connected, 0::bigint AS f_booked
            FROM analytics_heatmap.lead_segment_counts AS s
            WHERE p_agency IS NULL OR s.agency_id = p_agency
            UNION ALL
            SELECT f.agency_id, f.campaign_id, f.client_id, f.bucket, f.lead_group, 0, 0, 0,
                   f.total, f.connected, f.booked
            FROM fresh AS f
        ) AS u
        GROUP BY u.agency_id, u.campaign_id, u.client_id, u.bucket, u.lead_group
    ),
    segments AS (
        SELECT 'segment'::text AS grain, u.agency_id, u.campaign_id, u.client_id, u.bucket,
               NULL::smallint AS lead_group,
               sum(u.r_total)::bigint, sum(u.r_connected)::bigint, sum(u.r_booked)::bigint,
               sum(u.f_total)::bigint, sum(u.f_connected)::bigint, sum(u.f_booked)::bigint
        FROM (
            SELECT s.agency_id, s.campaign_id, s.client_id, s.bucket,
                   s.total_calls::bigint AS r_total, s.connected_calls::bigint AS r_connected,
                   s.meetings_booked::bigint AS r_booked,
                   0::bigint AS f_total, 0::bigint AS f_connected, 0::bigint AS f_booked
            FROM analytics_heatmap.segment_counts AS s
            WHERE p_agency IS NULL OR s.agency_id = p_agency
            UNION ALL
            SELECT f.agency_id, f.campaign_id, f.client_id, f.bucket, 0, 0, 0,
                   f.total, f.connected, f.booked
            FROM fresh AS f
        ) AS u
        GROUP BY u.agency_id, u.campaign_id, u.client_id, u.bucket
    ),
    lead_agencies AS (
        SELECT 'lead_agency'::text AS grain, u.agency_id, NULL::uuid AS campaign_id,
               NULL::uuid AS client_id, u.bucket, u.lead_group,
               sum(u.r_total)::bigint, sum(u.r_connected)::bigint, sum(u.r_booked)::bigint,
               sum(u.f_total)::bigint, sum(u.f_connected)::bigint, sum(u.f_booked)::bigint
        FROM (
            SELECT a.agency_id, a.bucket, a.lead_group,
                   a.total_calls::bigint AS r_total, a.connected_calls::bigint AS r_connected,
                   a.meetings_booked::bigint AS r_booked,
                   0::bigint AS f_total, 0::bigint AS f_connected, 0::bigint AS f_booked
            FROM analytics_heatmap.lead_agency_counts AS a
            WHERE p_agency IS NULL OR a.agency_id = p_agency
            UNION ALL
            SELECT f.agency_id, f.bucket, f.lead_group, 0, 0, 0, f.total, f.connected, f.booked
            FROM fresh AS f
        ) AS u
        GROUP BY u.agency_id, u.bucket, u.lead_group
    ),
    agencies AS (
        SELECT 'agency'::text AS grain, u.agency_id, NULL::uuid AS campaign_id,
               NULL::uuid AS client_id, u.bucket, NULL::smallint AS lead_group,
               sum(u.r_total)::bigint, sum(u.r_connected)::bigint, sum(u.r_booked)::bigint,
               sum(u.f_total)::bigint, sum(u.f_connected)::bigint, sum(u.f_booked)::bigint
        FROM (
            SELECT a.agency_id, a.bucket,
                   a.total_calls::bigint AS r_total, a.connected_calls::bigint AS r_connected,
                   a.meetings_booked::bigint AS r_booked,
                   0::bigint AS f_total, 0::bigint AS f_connected, 0::bigint AS f_booked
            FROM analytics_heatmap.agency_counts AS a
            WHERE p_agency IS NULL OR a.agency_id = p_agency
            UNION ALL
            SELECT f.agency_id, f.bucket, 0, 0, 0, f.total, f.connected, f.booked
            FROM fresh AS f
        ) AS u
        GROUP BY u.agency_id, u.bucket
    )
    SELECT * FROM (
        SELECT * FROM lead_segments  -- first: its columns name the rest
        UNION ALL SELECT * FROM segments
        UNION ALL SELECT * FROM lead_agencies
        UNION ALL SELECT * FROM agencies
    ) AS compared
    WHERE (compared.rollup_total, compared.rollup_connected, compared.rollup_booked)
        IS DISTINCT FROM (compared.fresh_total, compared.fresh_connected, compared.fresh_booked)
    ORDER BY compared.grain DESC, compared.agency_id, compared.bucket, compared.campaign_id,
        compared.client_id, compared.lead_group;
$$;

-- Mend what differences() finds, with the difference added to each bucket (not the fresh
-- count written over it), so writes committing meanwhile stay counted; then drop zero
-- rows. One statement compares once (one read of calls) and mends all four grains.
-- Returns the number of buckets mended. pg_cron can run it nightly.
-- Not while a fold runs (both upsert the same buckets): it locks the maintenance row, which
-- only the rollup's owner may touch, waiting at most lock_timeout (a fold takes seconds at
-- most), then fails with lock_not_available, saying so.
CREATE OR REPLACE FUNCTION analytics_heatmap.repair(p_agency uuid DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    SET lock_timeout = '60s' AS $$
DECLARE
    mended bigint;
BEGIN
    BEGIN
        PERFORM FROM analytics_heatmap.maintenance FOR UPDATE;
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'another fold or repair of the rollup held analytics_heatmap.maintenance for %, the longest a repair waits: run it again',
            pg_catalog.current_setting('lock_timeout')
            USING ERRCODE = 'lock_not_available';
    END;
    WITH found AS MATERIALIZED (
        SELECT d.*, d.fresh_total - d.rollup_total AS total,
               d.fresh_connected - d.rollup_connected AS connected,
               d.fresh_booked - d.rollup_booked AS booked
        FROM analytics_heatmap.differences(p_agency) AS d
    ),
    segments AS (
        INSERT INTO analytics_heatmap.segment_buckets AS r
            (agency_id, campaign_id, client_id, bucket, total_calls, connected_calls,
             meetings_booked)
        SELECT f.agency_id, f.campaign_id, f.client_id, f.bucket, f.total, f.connected, f.booked
        FROM found AS f
        WHERE f.grain = 'segment'
        ORDER BY f.agency_id, f.campaign_id, f.client_id, f.bucket
        ON CONFLICT ON CONSTRAINT segment_buckets_key DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
        RETURNING 1
    ),
    lead_segments AS (
        INSERT INTO analytics_heatmap.lead_segment_buckets AS r
            (agency_id, campaign_id, client_id, bucket, lead_group, total_calls,
             connected_calls, meetings_booked)
        SELECT f.agency_id, f.campaign_id, f.client_id, f.bucket, f.lead_group, f.total,
               f.connected, f.booked
        FROM found AS f
        WHERE f.grain = 'lead_segment'
        ORDER BY f.agency_id, f.campaign_id, f.client_id, f.bucket, f.lead_group
        ON CONFLICT ON CONSTRAINT lead_segment_buckets_key DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
        RETURNING 1
    ),
    lead_agencies AS (
        INSERT INTO analytics_heatmap.lead_agency_buckets AS r
            (agency_id, bucket, lead_group, total_calls, connected_calls, meetings_booked)
        SELECT f.agency_id, f.bucket, f.lead_group, f.total, f.connected, f.booked
        FROM found AS f
        WHERE f.grain = 'lead_agency'
        ORDER BY f.agency_id, f.bucket, f.lead_group
        ON CONFLICT (agency_id, bucket, lead_group) DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
        RETURNING 1
    ),
    agencies AS (
        INSERT INTO analytics_heatmap.agency_buckets AS r
            (agency_id, bucket, total_calls, connected_calls, meetings_booked)
        SELECT f.agency_id, f.bucket, f.total, f.connected, f.booked
        FROM found AS f
        WHERE f.grain = 'agency'
        ORDER BY f.agency_id, f.bucket
        ON CONFLICT (agency_id, bucket) DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM segments) + (SELECT count(*) FROM lead_segments)
        + (SELECT count(*) FROM lead_agencies) + (SELECT count(*) FROM agencies)
    INTO mended;
    DELETE FROM analytics_heatmap.segment_buckets AS s
    WHERE s.total_calls = 0 AND s.connected_calls = 0 AND s.meetings_booked = 0
        AND (p_agency IS NULL OR s.agency_id = p_agency);
    DELETE FROM analytics_heatmap.lead_segment_buckets AS s
    WHERE s.total_calls = 0 AND s.connected_calls = 0 AND s.meetings_booked = 0
        AND (p_agency IS NULL OR s.agency_id = p_agency);
    DELETE FROM analytics_heatmap.lead_agency_buckets AS a
    WHERE a.total_calls = 0 AND a.connected_calls = 0 AND a.meetings_booked = 0
        AND (p_agency IS NULL OR a.agency_id = p_agency);
    DELETE FROM analytics_heatmap.agency_buckets AS a
    WHERE a.total_calls = 0 AND a.connected_calls = 0 AND a.meetings_booked = 0
        AND (p_agency IS NULL OR a.agency_id = p_agency);
    -- Every agency now matches calls as it is: its shape is the one counted. calls was
    -- read above, so no rewrite of it can commit before this does.
    IF p_agency IS NULL THEN
        PERFORM analytics_heatmap.record_calls_shape('@calls@', 'repair');
    END IF;
    RETURN mended;
END
$$;
