"""Whether a Supabase Auth session is live: the read ``ANALYTICS_REQUIRE_LIVE_SESSION`` adds.

An access token stays valid until its ``exp`` even after the user signs out;
Supabase ends the session by deleting its ``auth.sessions`` row (or by setting
``not_after``). Reading that row on each request makes a sign-out or a revoked
session take effect at once. The read is its own module, apart from
``analytics.selectors`` (the heatmap's reads): it belongs to authentication,
reads a table Supabase Auth owns, and has no model, so it goes through a
parameterised cursor on the database the ``users`` rows are read from.
"""

from __future__ import annotations

from uuid import UUID

from django.db import connections, router

from analytics.models import User

SESSIONS_SCHEMA = "auth"
SESSIONS_TABLE_NAME = "sessions"
#: Supabase Auth's table, schema-qualified and quoted: the ``auth`` schema is not on
#: the search path of the database role Django connects as.
SESSIONS_TABLE = f'"{SESSIONS_SCHEMA}"."{SESSIONS_TABLE_NAME}"'

#: A primary-key lookup: one indexed read whatever the table's size. The ids go as
#: text, cast by the server, so every driver (and SQLite's, to fail) can bind them.
_LIVE_SESSION_SQL = (
    f"SELECT 1 FROM {SESSIONS_TABLE} "
    "WHERE id = CAST(%s AS uuid) AND user_id = CAST(%s AS uuid) "
    "AND (not_after IS NULL OR not_after > now()) LIMIT 1"
)


def sessions_database() -> str:
    """The alias ``auth.sessions`` is read from: where the ``users`` rows come from."""
    return router.db_for_read(User)


def session_is_live(*, session_id: UUID, user_id: UUID) -> bool:
    """Whether ``session_id`` is a session of ``user_id`` that has not ended.

    A ``DatabaseError`` (no such table, no privilege, a dropped connection) is
    left to the caller, which knows how to answer it.
    """
    with connections[sessions_database()].cursor() as cursor:
        cursor.execute(_LIVE_SESSION_SQL, [str(session_id), str(user_id)])
        return cursor.fetchone() is not None
