-- The heatmap's rollup: ended calls counted per 15-minute UTC bucket, kept current by
-- triggers on the calls table. This file makes the schema and its tables.
-- `python manage.py heatmap_rollup install` runs the files of this folder in the order
-- of their names, in one transaction (analytics.rollup.sql), with @calls@ replaced by
-- the calls table's quoted, qualified name. Every statement may run again
-- (CREATE ... IF NOT EXISTS, CREATE OR REPLACE), so a second install changes nothing.
--
-- Supabase: the schema is the app's own, so the Data API (which serves `public`) and
-- the roles `anon` and `authenticated` can neither read nor write it; RLS is on besides.
-- The trigger functions are SECURITY DEFINER with an empty search_path (Supabase lint
-- 0011): a write to calls by any role that may write calls is counted, and nothing
-- the writer controls can change what the functions resolve.

CREATE SCHEMA IF NOT EXISTS analytics_heatmap;
COMMENT ON SCHEMA analytics_heatmap IS
    'Owned by the Django app "analytics" (python manage.py heatmap_rollup); not for the Data API.';
REVOKE ALL ON SCHEMA analytics_heatmap FROM PUBLIC;

-- One row: the installed version and whether the backfill finished.
CREATE TABLE IF NOT EXISTS analytics_heatmap.rollup_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    ready boolean NOT NULL DEFAULT false,
    installed_at timestamptz NOT NULL DEFAULT now(),
    ready_at timestamptz NULL,
    -- Set by every TRUNCATE of calls: one during an install's backfill would leave the
    -- counted snapshot standing, so the install then fails and is run again.
    truncated_at timestamptz NULL,
    -- The phonenumbers release of the time-zone map that lead_group() holds, copied from
    -- the app's tables by load_lead_map(); the lead's clock is read from the rollup only
    -- while the app's tables hold the same release.
    map_version text NULL,
    -- True while install rebuilds the grains for a newer map: the lead grains are
    -- of the old map meanwhile, and fold() waits.
    remapping boolean NOT NULL DEFAULT false
);

-- One row, which fold() and repair() lock FOR UPDATE so that one runs at a time: a row
-- of the app's own schema, which no other role may read, let alone lock (an advisory key
-- would be open to every login: holding it stalled the fold). The fold records here when
-- it last ran and how many deltas it moved (the "time of the last fold" operators watch).
CREATE TABLE IF NOT EXISTS analytics_heatmap.maintenance (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_fold_at timestamptz NULL,
    last_folded bigint NULL
);
INSERT INTO analytics_heatmap.maintenance DEFAULT VALUES ON CONFLICT DO NOTHING;

-- One row: the shape of calls the rollup last counted, by install, a full repair (or a
-- verify --repair that found nothing) or a TRUNCATE: the type of each column it reads,
-- and the table's storage (relfilenode). A rewrite fires no row trigger: ALTER ... TYPE
-- ... USING (even to the same type) can change every value the triggers counted, and
-- VACUUM FULL, CLUSTER or pg_repack move the rows without a word. calls_drift shows
-- whether calls still has this shape; record_calls_shape() (2_counting.sql) writes it.
CREATE TABLE IF NOT EXISTS analytics_heatmap.calls_shape (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    calls oid NOT NULL,
    relfilenode oid NOT NULL,
    columns jsonb NOT NULL,  -- {"status": [type oid, typmod], ...}
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The unfiltered answer's grain: one row per agency and active bucket.
CREATE TABLE IF NOT EXISTS analytics_heatmap.agency_buckets (
    agency_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    total_calls integer NOT NULL,
    connected_calls integer NOT NULL,
    meetings_booked integer NOT NULL,
    PRIMARY KEY (agency_id, bucket)
) WITH (fillfactor = 80);  -- room for fold()'s updates in place (HOT)

-- The filtered answers' grain: one row per agency, campaign, client and active bucket.
-- NULLS NOT DISTINCT (PostgreSQL 15): a call without a campaign or client has one row.
CREATE TABLE IF NOT EXISTS analytics_heatmap.segment_buckets (
    agency_id uuid NOT NULL,
    campaign_id uuid NULL,
    client_id uuid NULL,
    bucket timestamptz NOT NULL,
    total_calls integer NOT NULL,
    connected_calls integer NOT NULL,
    meetings_booked integer NOT NULL,
    CONSTRAINT segment_buckets_key UNIQUE NULLS NOT DISTINCT (agency_id, campaign_id, client_id, bucket)
) WITH (fillfactor = 80);
-- The key serves ?campaign_id= (and both); this serves ?client_id= alone.
CREATE INDEX IF NOT EXISTS segment_buckets_client
    ON analytics_heatmap.segment_buckets (agency_id, client_id, bucket);

-- The same two grains on the lead's clock, split by the zone group of the number called
-- (analytics_lead_zone_group's id; 0 when the map cannot place the number: not E.164, or
-- no prefix of it in the map). The group's UTC offset is not stored: the heatmap adds it
-- when it reads, from Python's zone database, so a tzdata upgrade needs no rebuild.
CREATE TABLE IF NOT EXISTS analytics_heatmap.lead_agency_buckets (
    agency_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    lead_group smallint NOT NULL,
    total_calls integer NOT NULL,
    connected_calls integer NOT NULL,
    meetings_booked integer NOT NULL,
    PRIMARY KEY (agency_id, bucket, lead_group)
) WITH (fillfactor = 80);
CREATE TABLE IF NOT EXISTS analytics_heatmap.lead_segment_buckets (
    agency_id uuid NOT NULL,
    campaign_id uuid NULL,
    client_id uuid NULL,
    bucket timestamptz NOT NULL,
    lead_group smallint NOT NULL,
    total_calls integer NOT NULL,
    connected_calls integer NOT NULL,
    meetings_booked integer NOT NULL,
    CONSTRAINT lead_segment_buckets_key
        UNIQUE NULLS NOT DISTINCT (agency_id, campaign_id, client_id, bucket, lead_group)
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS lead_segment_buckets_client
    ON analytics_heatmap.lead_segment_buckets (agency_id, client_id, bucket);

-- What the triggers append: per-bucket deltas of the campaign/client/lead group grain,
-- which fold() adds to all four grains in the background. Appending takes no row lock, so
-- writers of the same bucket never wait for each other. Read beside the two grains
-- through the views below, so an answer is exact before the fold as after it.
CREATE TABLE IF NOT EXISTS analytics_heatmap.pending (
    agency_id uuid NOT NULL,
    campaign_id uuid NULL,
    client_id uuid NULL,
    bucket timestamptz NOT NULL,
    lead_group smallint NOT NULL,
    total_calls integer NOT NULL,
    connected_calls integer NOT NULL,
    meetings_booked integer NOT NULL,
    -- When the writing transaction began: the age of the oldest delta is how far the fold
    -- is behind (the Prometheus gauge of docs/operating.md). Every insert names its columns.
    appended_at timestamptz NOT NULL DEFAULT now()
);
-- Version 2 had no appended_at: its upgrade in place adds it (the deltas pending then
-- count as appended at the upgrade). Asked of the catalog first, so a refresh of a current
-- rollup takes no lock on pending.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute
        WHERE attrelid = 'analytics_heatmap.pending'::regclass AND attname = 'appended_at'
            AND NOT attisdropped
    ) THEN
        ALTER TABLE analytics_heatmap.pending
            ADD COLUMN appended_at timestamptz NOT NULL DEFAULT now();
    END IF;
END
$$;
-- Every fold deletes what it moved, and until a vacuum the dead rows stay in the index
-- every heatmap reads pending through (measured: 244,000 of them cost a read 20 to 70 ms).
-- So autovacuum cleans it after a few thousand, without waiting for a share of the table;
-- `heatmap_rollup fold` also vacuums it.
ALTER TABLE analytics_heatmap.pending SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
CREATE INDEX IF NOT EXISTS pending_agency ON analytics_heatmap.pending (agency_id, bucket);

-- The backfill's work table: calls counted block range by block range. Unlogged (an
-- install that fails starts again) and a table rather than a temporary one, so install
-- works through a pooler too.
CREATE UNLOGGED TABLE IF NOT EXISTS analytics_heatmap.backfill_delta (
    agency_id uuid NOT NULL,
    campaign_id uuid NULL,
    client_id uuid NULL,
    bucket timestamptz NOT NULL,
    lead_group smallint NOT NULL,
    total_calls bigint NOT NULL,
    connected_calls bigint NOT NULL,
    meetings_booked bigint NOT NULL
);

ALTER TABLE analytics_heatmap.rollup_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.maintenance ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.agency_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.segment_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.lead_agency_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.lead_segment_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.backfill_delta ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_heatmap.calls_shape ENABLE ROW LEVEL SECURITY;

-- What the heatmap reads (analytics.models.AgencyBucket, SegmentBucket, LeadAgencyBucket,
-- LeadSegmentBucket): the folded counts and the deltas not folded yet, side by side. The
-- heatmap sums per weekday and hour anyway, so a bucket in both adds up.
CREATE OR REPLACE VIEW analytics_heatmap.agency_counts AS
    SELECT agency_id, bucket, total_calls, connected_calls, meetings_booked
    FROM analytics_heatmap.agency_buckets
    UNION ALL
    SELECT agency_id, bucket, total_calls, connected_calls, meetings_booked
    FROM analytics_heatmap.pending;
CREATE OR REPLACE VIEW analytics_heatmap.segment_counts AS
    SELECT agency_id, campaign_id, client_id, bucket, total_calls, connected_calls,
           meetings_booked
    FROM analytics_heatmap.segment_buckets
    UNION ALL
    SELECT agency_id, campaign_id, client_id, bucket, total_calls, connected_calls,
           meetings_booked
    FROM analytics_heatmap.pending;
CREATE OR REPLACE VIEW analytics_heatmap.lead_agency_counts AS
    SELECT agency_id, bucket, lead_group, total_calls, connected_calls, meetings_booked
    FROM analytics_heatmap.lead_agency_buckets
    UNION ALL
    SELECT agency_id, bucket, lead_group, total_calls, connected_calls, meetings_booked
    FROM analytics_heatmap.pending;
CREATE OR REPLACE VIEW analytics_heatmap.lead_segment_counts AS
    SELECT agency_id, campaign_id, client_id, bucket, lead_group, total_calls,
           connected_calls, meetings_booked
    FROM analytics_heatmap.lead_segment_buckets
    UNION ALL
    SELECT agency_id, campaign_id, client_id, bucket, lead_group, total_calls,
           connected_calls, meetings_booked
    FROM analytics_heatmap.pending;

-- calls now against the shape recorded: the same columns of the same types (a column
-- dropped or renamed is missing) and the same storage, with the types named for people
-- (format_type, as the reader's search_path shows them). Catalogs only, read by every
-- role that may read the rollup: status, check --database (analytics.W010) and the read
-- path's readiness (every few seconds per process) ask it. No function of this schema,
-- so a reader needs no EXECUTE; calls is found by the oid stored, so nothing depends on it.
CREATE OR REPLACE VIEW analytics_heatmap.calls_drift AS
    SELECT s.recorded_by, s.recorded_at,
           s.relfilenode AS recorded_relfilenode, c.relfilenode AS relfilenode,
           (SELECT jsonb_object_agg(r.key, pg_catalog.format_type(
                        (r.value ->> 0)::oid, (r.value ->> 1)::integer))
            FROM jsonb_each(s.columns) AS r) AS recorded_types,
           COALESCE(current_shape.types, '{}'::jsonb) AS types,
           c.relfilenode IS DISTINCT FROM s.relfilenode
               OR COALESCE(current_shape.columns, '{}'::jsonb) <> s.columns AS drifted
    FROM analytics_heatmap.calls_shape AS s
    LEFT JOIN pg_catalog.pg_class AS c ON c.oid = s.calls
    CROSS JOIN LATERAL (
        SELECT jsonb_object_agg(a.attname, jsonb_build_array(a.atttypid::bigint, a.atttypmod))
                   AS columns,
               jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
                   AS types
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = s.calls AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname::text IN (SELECT jsonb_object_keys(s.columns))
    ) AS current_shape;
