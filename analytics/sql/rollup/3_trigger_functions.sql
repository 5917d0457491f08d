-- The trigger functions that keep the rollup current (6_triggers.sql attaches them),
-- and fold(), which moves their deltas into the four grains.
-- Part of the heatmap's rollup, run by analytics.rollup.sql in one transaction with the
-- others, @calls@ replaced by the calls table's quoted, qualified name. Every statement may
-- run again: CREATE ... IF NOT EXISTS, CREATE OR REPLACE.

-- Each statement on calls appends, per campaign/client/lead group bucket it touched, the
-- rows after it that count (+) less the rows before it that counted (-). Keys whose
-- deltas cancel (a summary edited, analysis filled in without a booking) append nothing;
-- a phone_number edited to another zone group moves the call between lead groups. Appends
-- take no row lock: writers of one bucket never queue behind each other, and no order of
-- writes can deadlock. A write rolled back takes its deltas with it. Each row's number is
-- stripped once (OFFSET 0 keeps the subquery whole), then looked up (2_counting.sql).
CREATE OR REPLACE FUNCTION analytics_heatmap.count_inserted()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO analytics_heatmap.pending
        (agency_id, campaign_id, client_id, bucket, lead_group, total_calls, connected_calls,
         meetings_booked)
    SELECT agency_id, campaign_id, client_id, bucket,
           analytics_heatmap.lead_group(analytics_heatmap.lead_key(n)),
           count(*), sum(connected), sum(booked)
    FROM (
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at) AS bucket,
               analytics_heatmap.stripped_number(phone_number) AS n,
               analytics_heatmap.is_connected(joined_at, end_reason::text) AS connected,
               analytics_heatmap.is_booked(analysis) AS booked
        FROM new_rows
        WHERE analytics_heatmap.is_ended(status::text)
        OFFSET 0
    ) AS counted
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_heatmap.count_deleted()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO analytics_heatmap.pending
        (agency_id, campaign_id, client_id, bucket, lead_group, total_calls, connected_calls,
         meetings_booked)
    SELECT agency_id, campaign_id, client_id, bucket,
           analytics_heatmap.lead_group(analytics_heatmap.lead_key(n)),
           -count(*), -sum(connected), -sum(booked)
    FROM (
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at) AS bucket,
               analytics_heatmap.stripped_number(phone_number) AS n,
               analytics_heatmap.is_connected(joined_at, end_reason::text) AS connected,
               analytics_heatmap.is_booked(analysis) AS booked
        FROM old_rows
        WHERE analytics_heatmap.is_ended(status::text)
        OFFSET 0
    ) AS counted
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_heatmap.count_updated()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO analytics_heatmap.pending
        (agency_id, campaign_id, client_id, bucket, lead_group, total_calls, connected_calls,
         meetings_booked)
    SELECT agency_id, campaign_id, client_id, bucket,
           analytics_heatmap.lead_group(analytics_heatmap.lead_key(n)),
           sum(total), sum(connected), sum(booked)
    FROM (
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at) AS bucket,
               analytics_heatmap.stripped_number(phone_number) AS n, 1 AS total,
               analytics_heatmap.is_connected(joined_at, end_reason::text) AS connected,
               analytics_heatmap.is_booked(analysis) AS booked
        FROM new_rows WHERE analytics_heatmap.is_ended(status::text)
        UNION ALL
        SELECT agency_id, campaign_id, client_id, analytics_heatmap.bucket_of(created_at),
               analytics_heatmap.stripped_number(phone_number), -1,
               -analytics_heatmap.is_connected(joined_at, end_reason::text),
               -analytics_heatmap.is_booked(analysis)
        FROM old_rows WHERE analytics_heatmap.is_ended(status::text)
        OFFSET 0
    ) AS changed
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(total) <> 0 OR sum(connected) <> 0 OR sum(booked) <> 0;
    RETURN NULL;
END
$$;

-- TRUNCATE calls empties the rollup in the same transaction: a rollback keeps both. It
-- gives calls new storage, which is recorded: the rollup saw this rewrite.
CREATE OR REPLACE FUNCTION analytics_heatmap.count_truncated()
    RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    TRUNCATE analytics_heatmap.segment_buckets, analytics_heatmap.agency_buckets,
        analytics_heatmap.lead_segment_buckets, analytics_heatmap.lead_agency_buckets,
        analytics_heatmap.pending;
    UPDATE analytics_heatmap.rollup_state SET truncated_at = clock_timestamp();
    PERFORM analytics_heatmap.record_calls_shape(TG_RELID, 'truncate');
    RETURN NULL;
END
$$;

-- Move the pending deltas into the four grains, in one statement: a reader sees them
-- either pending or folded, never both or neither. Rows appended meanwhile are not in
-- this statement's snapshot and wait for the next fold. Buckets are upserted in key
-- order; one fold (or repair) runs at a time, and none before the install is ready or
-- while a remap rebuilds the grains (it counts on pending staying as its snapshot saw it).
-- One at a time: each locks the maintenance row, which only the rollup's owner may touch;
-- a fold that finds it locked does not wait (the other one is folding). The row is locked
-- before the state is read, so a remap that committed meanwhile is seen.
-- Returns the number of deltas moved, 0 when none were pending, and NULL when it did not
-- run: another fold or repair holds the row, or the rollup is not ready or is remapping.
-- Run it every minute or so: pg_cron, the host's scheduler, or
-- `manage.py heatmap_rollup fold` (docs/rollup.md).
CREATE OR REPLACE FUNCTION analytics_heatmap.fold()
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    moved bigint;
BEGIN
    PERFORM FROM analytics_heatmap.maintenance FOR UPDATE SKIP LOCKED;
    IF NOT FOUND
        OR NOT COALESCE((SELECT ready AND NOT remapping FROM analytics_heatmap.rollup_state), false)
    THEN
        RETURN NULL;
    END IF;
    WITH moved AS (
        DELETE FROM analytics_heatmap.pending RETURNING *
    ),
    lead_segments AS (
        INSERT INTO analytics_heatmap.lead_segment_buckets AS r
            (agency_id, campaign_id, client_id, bucket, lead_group, total_calls,
             connected_calls, meetings_booked)
        SELECT agency_id, campaign_id, client_id, bucket, lead_group,
               sum(total_calls), sum(connected_calls), sum(meetings_booked)
        FROM moved
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT ON CONSTRAINT lead_segment_buckets_key DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
    ),
    lead_agencies AS (
        INSERT INTO analytics_heatmap.lead_agency_buckets AS r
            (agency_id, bucket, lead_group, total_calls, connected_calls, meetings_booked)
        SELECT agency_id, bucket, lead_group,
               sum(total_calls), sum(connected_calls), sum(meetings_booked)
        FROM moved
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (agency_id, bucket, lead_group) DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
    ),
    segments AS (
        INSERT INTO analytics_heatmap.segment_buckets AS r
            (agency_id, campaign_id, client_id, bucket, total_calls, connected_calls,
             meetings_booked)
        SELECT agency_id, campaign_id, client_id, bucket,
               sum(total_calls), sum(connected_calls), sum(meetings_booked)
        FROM moved
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT ON CONSTRAINT segment_buckets_key DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
    ),
    agencies AS (
        INSERT INTO analytics_heatmap.agency_buckets AS r
            (agency_id, bucket, total_calls, connected_calls, meetings_booked)
        SELECT agency_id, bucket, sum(total_calls), sum(connected_calls), sum(meetings_booked)
        FROM moved
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (agency_id, bucket) DO UPDATE SET
            total_calls = r.total_calls + excluded.total_calls,
            connected_calls = r.connected_calls + excluded.connected_calls,
            meetings_booked = r.meetings_booked + excluded.meetings_booked
    )
    SELECT count(*) INTO moved FROM moved;
    UPDATE analytics_heatmap.maintenance SET last_fold_at = now(), last_folded = moved;
    RETURN moved;
END
$$;
