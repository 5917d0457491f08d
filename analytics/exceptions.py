"""Every error the app has, in one module: what went wrong as data, and how HTTP says it.

As in djangorestframework-simplejwt's ``exceptions.py``, two families:

- :class:`AnalyticsError`, free of HTTP, one subclass per layer: :class:`AuthError`
  (the token, its keys, its session, its user), :class:`HeatmapError` (the reads of
  ``calls``; :class:`InvalidQuery`, a heatmap's bad parameters, is one) and
  :class:`RollupError`. Each carries a ``code`` (the contract's, stable) and a one-line
  message; the admin and ``call_heatmap`` print the message as it is.
- The HTTP family: one DRF ``APIException`` per status, the code passed as data.

:func:`api_error` is the one place the first becomes the second, and
:func:`exception_handler` the one place an error's body is shaped. The app's views
install it through ``get_exception_handler()``, never as the project-wide
``EXCEPTION_HANDLER``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

#: Each code's message, written once: the endpoint's ``detail`` and what the admin and
#: the command print. A raise may pass a more precise message for the same code.
MESSAGES: dict[str, str] = {
    # The token (401).
    "token_invalid": "The access token is invalid.",
    "token_malformed": "The access token is not a well-formed JWT.",
    "token_header_unsupported": (
        "The access token's header asks for an extension this server does not support."
    ),
    "token_algorithm_not_allowed": (
        "The access token is signed with an algorithm this server does not accept."
    ),
    "token_unknown_key": "The access token names no signing key this server knows.",
    "token_bad_signature": "The access token's signature does not verify.",
    "token_expired": "The access token has expired.",
    "token_not_yet_valid": "The access token is not valid yet.",
    "token_bad_audience": "The access token is not meant for this audience.",
    "token_bad_issuer": "The access token was not issued by this Supabase project.",
    "token_bad_claims": "The access token's claims are missing or invalid.",
    "token_not_user": "Only a signed-in user's access token is accepted here.",
    "authorization_header_invalid": "The Authorization header must be 'Bearer <access token>'.",
    "session_ended": "The session this access token belongs to has ended; sign in again.",
    # The user (403).
    "user_not_found": "No user exists for this access token.",
    "user_without_agency": "This user does not belong to an agency.",
    "anonymous_user": "Anonymous users cannot read this; sign in with an account.",
    # Our side (500, 503): logged where it happened, never shown.
    "calls_query_failed": "Failed to query calls table",
    "users_query_failed": "Failed to query users table",
    "sessions_query_failed": "Failed to query sessions table",
    "jwks_unavailable": (
        "The keys that verify access tokens cannot be read right now; try again soon."
    ),
    "scans_busy": "Too many heatmaps of this agency are being counted right now; retry soon.",
    # Staff's own input, in the admin, the terminal and the shell.
    "unknown_agency": "No calls and no users belong to this agency; check the id.",
    "invalid_query": "The heatmap's parameters are not valid.",
    # HTTP itself.
    "precondition_failed": "The heatmap no longer matches the If-Match precondition.",
}

#: What failed when a read of the heatmap's database (``{alias}``) could not answer, for
#: the log and staff, the server's reason after it: the connection (none could be made,
#: or it broke), or the query on it. The endpoint answers ``calls_query_failed``'s own
#: message above, as the contract lists it.
READ_FAILURES: dict[str, str] = {
    "connection": "Could not connect to database {alias!r}",
    "query": "Failed to query calls table on database {alias!r}",
}


class AnalyticsError(Exception):
    """Something the app could not do: a stable ``code`` and a one-line ``message``.

    ``retry_after`` (seconds) is set when asking again later can succeed.
    """

    default_code: ClassVar[str]

    def __init__(
        self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None
    ) -> None:
        self.code = code or self.default_code
        self.message = message or MESSAGES.get(self.code, self.code)
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        """The message, and when to ask again: what the admin and ``call_heatmap`` print."""
        if self.retry_after is None:
            return self.message
        return f"{self.message} Try again in {self.retry_after} s."


class AuthError(AnalyticsError):
    """The caller is not let in: the token, its keys, its session or its user."""

    default_code = "token_invalid"


class HeatmapError(AnalyticsError):
    """The heatmap's reads could not answer: a failed or refused scan (logged where it
    failed), or an agency staff asked for that nothing belongs to."""

    default_code = "calls_query_failed"


class InvalidQuery(HeatmapError, ValueError):
    """Bad values for a heatmap's parameters (``HeatmapQuery.parse()``, so ``heatmap()``):
    ``errors`` holds each parameter's message, the one the endpoint's 400 gives under its
    name. Its text names each parameter, and a choice's ``choices``, because in the shell
    it has no field to name or contract to list them; a ``ValueError`` there, too.
    """

    default_code = "invalid_query"

    def __init__(
        self, errors: dict[str, str], choices: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.errors = errors
        known = choices or {}
        lines = [
            f"{name}: {message}"
            + (f" Choices: {', '.join(known[name])}." if known.get(name) else "")
            for name, message in errors.items()
        ]
        super().__init__("\n".join(lines))


class RollupError(AnalyticsError):
    """Why the rollup cannot be installed, read or removed here, in one line."""

    default_code = "rollup_failed"


class Unauthenticated(exceptions.AuthenticationFailed):
    """401; DRF adds ``WWW-Authenticate`` from the authentication class."""

    default_detail = MESSAGES["token_invalid"]
    default_code = "token_invalid"


class Forbidden(exceptions.PermissionDenied):
    default_code = "user_not_found"


class ServerError(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "calls_query_failed"


class Unavailable(APIException):
    """503; with ``retry_after``, DRF's handler writes ``Retry-After`` as for a 429."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "jwks_unavailable"


class PreconditionFailed(APIException):
    """412: ``If-Match`` (or ``If-Unmodified-Since``) does not hold for the current answer."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = MESSAGES["precondition_failed"]
    default_code = "precondition_failed"


#: The HTTP error each code is answered with; the OpenAPI description lists codes from it.
HTTP_ERRORS: dict[str, type[APIException]] = {
    **{code: Unauthenticated for code in MESSAGES if code.startswith("token_")},
    "authorization_header_invalid": Unauthenticated,
    "session_ended": Unauthenticated,
    "user_not_found": Forbidden,
    "user_without_agency": Forbidden,
    "anonymous_user": Forbidden,
    "users_query_failed": ServerError,
    "sessions_query_failed": ServerError,
    "calls_query_failed": ServerError,
    "jwks_unavailable": Unavailable,
    "scans_busy": Unavailable,
    "precondition_failed": PreconditionFailed,
}


def codes_answered_with(error: type[APIException]) -> list[str]:
    """The codes :func:`api_error` answers with ``error``, in :data:`MESSAGES`' order."""
    return [code for code in MESSAGES if HTTP_ERRORS.get(code) is error]


def api_error(exc: AnalyticsError) -> APIException:
    """The HTTP error for ``exc``: its status from its code, its message as ``detail``.

    A failure on our side (a 500) answers its code's own message whatever the raise
    said: the precise one (which database, the server's words) is for the log and staff.
    """
    error_class = HTTP_ERRORS.get(exc.code, ServerError)
    detail = exc.message
    if error_class is ServerError and exc.code in MESSAGES:
        detail = MESSAGES[exc.code]
    error = error_class(detail, exc.code)
    if exc.retry_after is not None:
        error.wait = exc.retry_after  # type: ignore[attr-defined]  # read by DRF's handler
    return error


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, ``WWW-Authenticate``, ``Allow``, ``Retry-After``), then the body.

    Every error but a 400 is ``{"detail": ..., "code": ...}``. A 400 keeps DRF's shape,
    each bad parameter with its messages: its fields are the contract's, and one
    ``code`` could not name several mistakes.
    """
    if isinstance(exc, AnalyticsError):
        exc = api_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(exc, APIException)
        and not isinstance(exc, exceptions.ValidationError)
    ):
        response.data = {"detail": exc.detail, "code": exc.get_codes()}
    return response
