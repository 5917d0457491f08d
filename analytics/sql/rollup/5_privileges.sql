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

-- A role the owner granted USAGE on the schema reads the rollup (docs/deploying-on-supabase.md,
-- "Django on a role of its own"): the heatmap's views, the state, status's counts. Every
-- install, remap and upgrade grants it SELECT on every table here, the ones a remap swapped
-- in and the ones a new version added; a rebuild keeps its USAGE (analytics.rollup.install).
-- Row security stays on: a policy lets a role that may SELECT a table see its rows (the
-- privilege is the gate: only the owner and these readers hold one). Nothing else: no
-- write, no lock a fold or repair waits for (both need UPDATE), no EXECUTE.
DO $$
DECLARE
    rollup_table text;
    reader text;
BEGIN
    FOR rollup_table IN
        SELECT c.relname FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'analytics_heatmap'::regnamespace AND c.relkind = 'r'
            AND NOT EXISTS (
                SELECT FROM pg_catalog.pg_policy AS p
                WHERE p.polrelid = c.oid AND p.polname = 'readers'
            )
    LOOP
        EXECUTE format(
            'CREATE POLICY readers ON analytics_heatmap.%I FOR SELECT USING (true)', rollup_table
        );
    END LOOP;
    FOR reader IN
        SELECT pg_catalog.pg_get_userbyid(acl.grantee)
        FROM pg_catalog.pg_namespace AS n, pg_catalog.aclexplode(n.nspacl) AS acl
        WHERE n.nspname = 'analytics_heatmap' AND acl.privilege_type = 'USAGE'
            AND acl.grantee <> n.nspowner AND acl.grantee <> 0
    LOOP
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA analytics_heatmap TO %I', reader);
    END LOOP;
END
$$;
