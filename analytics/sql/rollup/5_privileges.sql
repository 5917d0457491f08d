-- Nobody but the installing role (the owner of everything here) may use the rollup.
-- Part of the heatmap's rollup, run last by analytics.rollup.sql in the same transaction.
--
-- Supabase grants anon, authenticated and service_role wide default privileges, and
-- some projects extend them beyond public; whatever a default gave, it is taken back.
-- The trigger functions need no EXECUTE grant: PostgreSQL checks it when a trigger is
-- created, not when it fires, so a write by any role that may write calls is counted.

REVOKE ALL ON ALL TABLES IN SCHEMA analytics_heatmap FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA analytics_heatmap FROM PUBLIC;

DO $$
DECLARE
    supabase_role text;
BEGIN
    FOREACH supabase_role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = supabase_role) THEN
            EXECUTE format('REVOKE ALL ON SCHEMA analytics_heatmap FROM %I', supabase_role);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA analytics_heatmap FROM %I', supabase_role);
            EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA analytics_heatmap FROM %I', supabase_role);
        END IF;
    END LOOP;
END
$$;
