"""DRF authentication with the Supabase access token the SPA already holds, and the permission
that every read is scoped by: the caller's agency, from its ``users`` row.

``ANALYTICS_REQUIRE_LIVE_SESSION`` adds one read here: an access token stays valid until
its ``exp`` even after the user signs out, and Supabase ends a session by deleting its
``auth.sessions`` row (or setting ``not_after``). That table is Supabase Auth's and has no
model, so it is read through a parameterised cursor on the database the ``users`` rows
come from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from django.db import DatabaseError, connections, router
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from analytics.auth.tokens import AccessToken, decode_access_token
from analytics.conf import conf
from analytics.exceptions import AuthError, api_error
from analytics.models import User

logger = logging.getLogger(__name__)

#: RFC 9110 separates the scheme from its credentials with spaces (tabs seen in the wild).
_CREDENTIALS_SEPARATOR = re.compile(r"[ \t]+")


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


@dataclass(frozen=True)
class SupabaseUser:
    """``request.user``: who the token names and the agency its ``users`` row gives.

    ``agency_id`` is ``None`` when the row has none, and also when the row is not
    read at all (:class:`SupabaseClaimsAuthentication`).
    """

    id: UUID
    agency_id: UUID | None
    claims: Mapping[str, Any] = field(repr=False)

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def pk(self) -> UUID:
        """For DRF's per-user throttles, which key on ``request.user.pk``."""
        return self.id


class SupabaseJWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <Supabase access token>``.

    No header, or another scheme, returns ``None`` so other authenticators get
    their turn; a Bearer header that does not verify is a 401, a JWKS that
    cannot be read a 503. ``request.auth`` holds the token's claims.

    A genuine token can still be refused: an anonymous sign-in's is a 403 (unless
    ``ANALYTICS_ALLOW_ANONYMOUS_USERS``), and with ``ANALYTICS_REQUIRE_LIVE_SESSION``
    one whose session has ended is a 401. Both are decided before the ``users``
    row is read, the cheaper first.
    """

    keyword = "bearer"
    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[SupabaseUser, Mapping[str, Any]] | None:
        # DRF's contract is an APIException: each refusal below is an AuthError, said once here.
        try:
            token = self.get_bearer_token(request)
            if token is None:
                return None
            access_token = decode_access_token(token)
            self.check_anonymous(access_token)
            self.check_session(access_token)
            return self.get_user(access_token), access_token.claims
        except AuthError as exc:
            raise api_error(exc) from exc

    def authenticate_header(self, request: Request) -> str:
        # Without it DRF turns every 401 into a 403.
        return f'Bearer realm="{self.www_authenticate_realm}"'

    def get_bearer_token(self, request: Request) -> str | None:
        """The token of a ``Bearer`` header (any case), ``None`` for no header or another scheme."""
        header = request.META.get("HTTP_AUTHORIZATION")
        if isinstance(header, bytes):
            # As a WSGI server would have handed it over.
            header = header.decode("latin-1")
        if not header or not isinstance(header, str):
            return None
        parts = _CREDENTIALS_SEPARATOR.split(header.strip(" \t"))
        if parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthError(code="authorization_header_invalid")
        return parts[1]

    def check_anonymous(self, access_token: AccessToken) -> None:
        """Anonymous sign-ins need no account: anyone can get such a token from the anon key."""
        if access_token.is_anonymous and conf.ALLOW_ANONYMOUS_USERS is not True:
            raise AuthError(code="anonymous_user")

    def check_session(self, access_token: AccessToken) -> None:
        """With ``ANALYTICS_REQUIRE_LIVE_SESSION``: a sign-out ends a token now, not at ``exp``."""
        if not conf.REQUIRE_LIVE_SESSION:  # A mistyped "yes" (analytics.E002) still reads.
            return
        session_id = access_token.session_id
        if session_id is None:
            raise AuthError(
                "The access token names no session; sign in again.", code="session_ended"
            )
        try:
            live = session_is_live(session_id=session_id, user_id=access_token.user_id)
        except DatabaseError as exc:
            logger.exception("Sessions query failed for user %s", access_token.user_id)
            raise AuthError(code="sessions_query_failed") from exc
        if not live:
            raise AuthError(code="session_ended")

    def get_user(self, access_token: AccessToken) -> SupabaseUser:
        """Who the token names, with the agency their ``users`` row gives."""
        return SupabaseUser(
            id=access_token.user_id,
            agency_id=self.get_agency_id(access_token.user_id),
            claims=access_token.claims,
        )

    def get_agency_id(self, user_id: UUID) -> UUID | None:
        try:
            rows = list(User.objects.filter(pk=user_id).values_list("agency_id", flat=True)[:1])
        except DatabaseError as exc:
            logger.exception("Users query failed for user %s", user_id)
            raise AuthError(code="users_query_failed") from exc
        if not rows:
            raise AuthError(code="user_not_found")
        return rows[0]


class SupabaseClaimsAuthentication(SupabaseJWTAuthentication):
    """The same verification without reading the ``users`` row, for views that need claims only.

    As simplejwt's ``JWTStatelessUserAuthentication``: no query per request, and a
    token whose user has no row still authenticates, with ``agency_id`` ``None``.
    The token itself is refused as above: anonymous sign-ins, and with
    ``ANALYTICS_REQUIRE_LIVE_SESSION`` ended sessions, whose read is then the one query.
    """

    def get_user(self, access_token: AccessToken) -> SupabaseUser:
        return SupabaseUser(id=access_token.user_id, agency_id=None, claims=access_token.claims)


def agency_id_of(request: Request) -> UUID:
    """The caller's agency, from its ``users`` row: never from a parameter or header."""
    user = request.user
    if not isinstance(user, SupabaseUser):
        raise NotAuthenticated()
    if user.agency_id is None:
        raise api_error(AuthError(code="user_without_agency"))
    return user.agency_id


class BelongsToAgency(BasePermission):
    """The token's user has an agency; the agency scopes every read."""

    def has_permission(self, request: Request, view: Any) -> bool:
        agency_id_of(request)
        return True
