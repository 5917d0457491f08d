-- The trigger functions that keep the rollup current (6_triggers.sql attaches them).
-- Part of the heatmap's rollup, run by analytics.rollup.sql in one transaction with the
-- others, @calls@ replaced by the calls table's quoted, qualified name. Every statement may
-- run again: CREATE ... IF NOT EXISTS, CREATE OR REPLACE.

-- Add signed per-row deltas (+1 for a counted row after the statement, -1 before) to
-- both grains. Rows are upserted in key order, the segment grain first, so two
-- statements touching the same buckets lock them in the same order and never deadlock.
-- Zero rows may be left behind (a call moved away); reads ignore them, repair drops them.
CREATE OR REPLACE FUNCTION analytics_heatmap.count_inserted()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO analytics_heatmap.segment_buckets AS r
        (agency_id, campaign_id, client_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at),
           count(*), sum(analytics_heatmap.is_connected(joined_at, end_reason::text)),
           sum(analytics_heatmap.is_booked(analysis))
    FROM new_rows
    WHERE analytics_heatmap.is_ended(status::text)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT ON CONSTRAINT segment_buckets_key DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    IF NOT FOUND THEN
        RETURN NULL;  -- nothing counted (a queued call, say): the agency grain is untouched
    END IF;
    INSERT INTO analytics_heatmap.agency_buckets AS r
        (agency_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, analytics_heatmap.bucket_of(created_at),
           count(*), sum(analytics_heatmap.is_connected(joined_at, end_reason::text)),
           sum(analytics_heatmap.is_booked(analysis))
    FROM new_rows
    WHERE analytics_heatmap.is_ended(status::text)
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (agency_id, bucket) DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_heatmap.count_deleted()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO analytics_heatmap.segment_buckets AS r
        (agency_id, campaign_id, client_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at),
           -count(*), -sum(analytics_heatmap.is_connected(joined_at, end_reason::text)),
           -sum(analytics_heatmap.is_booked(analysis))
    FROM old_rows
    WHERE analytics_heatmap.is_ended(status::text)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT ON CONSTRAINT segment_buckets_key DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO analytics_heatmap.agency_buckets AS r
        (agency_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, analytics_heatmap.bucket_of(created_at),
           -count(*), -sum(analytics_heatmap.is_connected(joined_at, end_reason::text)),
           -sum(analytics_heatmap.is_booked(analysis))
    FROM old_rows
    WHERE analytics_heatmap.is_ended(status::text)
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (agency_id, bucket) DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    RETURN NULL;
END
$$;

-- An UPDATE is the rows after it counted in and the rows before it counted out. Keys
-- whose deltas cancel (phone_number edited, analysis filled in without a booking) are
-- left alone, so most updates write nothing here.
CREATE OR REPLACE FUNCTION analytics_heatmap.count_updated()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    WITH changed AS (
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at) AS bucket,
               1 AS total, analytics_heatmap.is_connected(joined_at, end_reason::text) AS connected,
               analytics_heatmap.is_booked(analysis) AS booked
        FROM new_rows WHERE analytics_heatmap.is_ended(status::text)
        UNION ALL
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at),
               -1, -analytics_heatmap.is_connected(joined_at, end_reason::text),
               -analytics_heatmap.is_booked(analysis)
        FROM old_rows WHERE analytics_heatmap.is_ended(status::text)
    )
    INSERT INTO analytics_heatmap.segment_buckets AS r
        (agency_id, campaign_id, client_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, campaign_id, client_id, bucket, sum(total), sum(connected), sum(booked)
    FROM changed
    GROUP BY 1, 2, 3, 4
    HAVING sum(total) <> 0 OR sum(connected) <> 0 OR sum(booked) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT ON CONSTRAINT segment_buckets_key DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    IF NOT FOUND THEN
        RETURN NULL;  -- every delta cancelled: no segment changed, so no agency bucket did
    END IF;
    WITH changed AS (
        SELECT agency_id, analytics_heatmap.bucket_of(created_at) AS bucket,
               1 AS total, analytics_heatmap.is_connected(joined_at, end_reason::text) AS connected,
               analytics_heatmap.is_booked(analysis) AS booked
        FROM new_rows WHERE analytics_heatmap.is_ended(status::text)
        UNION ALL
        SELECT agency_id, analytics_heatmap.bucket_of(created_at),
               -1, -analytics_heatmap.is_connected(joined_at, end_reason::text),
               -analytics_heatmap.is_booked(analysis)
        FROM old_rows WHERE analytics_heatmap.is_ended(status::text)
    )
    INSERT INTO analytics_heatmap.agency_buckets AS r
        (agency_id, bucket, total_calls, connected_calls, meetings_booked)
    SELECT agency_id, bucket, sum(total), sum(connected), sum(booked)
    FROM changed
    GROUP BY 1, 2
    HAVING sum(total) <> 0 OR sum(connected) <> 0 OR sum(booked) <> 0
    ORDER BY 1, 2
    ON CONFLICT (agency_id, bucket) DO UPDATE SET
        total_calls = r.total_calls + excluded.total_calls,
        connected_calls = r.connected_calls + excluded.connected_calls,
        meetings_booked = r.meetings_booked + excluded.meetings_booked;
    RETURN NULL;
END
$$;

-- TRUNCATE calls empties the rollup in the same transaction: a rollback keeps both.
CREATE OR REPLACE FUNCTION analytics_heatmap.count_truncated()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    TRUNCATE analytics_heatmap.segment_buckets, analytics_heatmap.agency_buckets;
    UPDATE analytics_heatmap.rollup_state SET truncated_at = clock_timestamp();
    RETURN NULL;
END
$$;
