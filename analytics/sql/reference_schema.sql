-- Reference DDL (PostgreSQL) of the two tables the Supabase application owns
-- and this app reads. It documents their shape and is what the tests and the
-- benchmark create; Django never runs it against the host's real database.
-- Columns this app does not read are kept to show that they are ignored.

CREATE TYPE call_status AS ENUM ('queued', 'ringing', 'in_progress', 'ended', 'failed');

CREATE TYPE call_end_reason AS ENUM (
    'completed', 'unjoined', 'voicemail', 'busy', 'no_answer', 'hangup', 'error'
);

CREATE TABLE users (
    id uuid PRIMARY KEY,            -- the Supabase auth user id, the JWT "sub"
    agency_id uuid NULL,
    email text NULL,
    full_name text NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE calls (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id uuid NOT NULL,
    campaign_id uuid NULL,
    client_id uuid NULL,
    status call_status NOT NULL DEFAULT 'queued',
    created_at timestamptz NOT NULL DEFAULT now(),
    joined_at timestamptz NULL,
    ended_at timestamptz NULL,
    end_reason call_end_reason NULL,
    analysis jsonb NULL,
    phone_number text NULL,
    duration_seconds integer NULL
);

CREATE INDEX idx_calls_agency_created ON calls (agency_id, created_at);
