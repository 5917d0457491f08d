"""The HTTP errors the app answers with, and the one handler that shapes their bodies.

Each error is a DRF ``APIException`` with a ``default_code``; :func:`exception_handler`
gives every one of them, DRF's own (401, 405, 406, 429) included, the body
``{"detail": ..., "code": ...}``. The app's views install it through
``get_exception_handler()``, never as the project-wide ``EXCEPTION_HANDLER``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.exceptions import APIException, AuthenticationFailed, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class InvalidToken(AuthenticationFailed):
    """401; DRF adds ``WWW-Authenticate`` from the authentication class."""

    default_detail = "The access token is invalid."
    default_code = "token_invalid"


class InvalidAuthorizationHeader(AuthenticationFailed):
    default_detail = "The Authorization header must be 'Bearer <access token>'."
    default_code = "authorization_header_invalid"


class UserNotFound(PermissionDenied):
    default_detail = "No user exists for this access token."
    default_code = "user_not_found"


class UserHasNoAgency(PermissionDenied):
    default_detail = "This user does not belong to an agency."
    default_code = "user_without_agency"


class AnonymousUserRefused(PermissionDenied):
    """403: the token is genuine, but from an anonymous sign-in (``is_anonymous: true``)."""

    default_detail = "Anonymous users cannot read this; sign in with an account."
    default_code = "anonymous_user"


class SessionEnded(AuthenticationFailed):
    """401: ``ANALYTICS_REQUIRE_LIVE_SESSION`` is on and the token's session is gone."""

    default_detail = "The session this access token belongs to has ended; sign in again."
    default_code = "session_ended"


class SessionsQueryFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Failed to query sessions table"
    default_code = "sessions_query_failed"


class UsersQueryFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Failed to query users table"
    default_code = "users_query_failed"


class CallsQueryFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Failed to query calls table"
    default_code = "calls_query_failed"


class SigningKeysUnavailable(APIException):
    """503: the JWKS could not be read, so no asymmetric token can be checked right now."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The keys that verify access tokens cannot be read right now; try again soon."
    default_code = "jwks_unavailable"


class PreconditionFailed(APIException):
    """412: ``If-Match`` (or ``If-Unmodified-Since``) does not hold for the current answer."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The heatmap no longer matches the If-Match precondition."
    default_code = "precondition_failed"


class ScansBusy(APIException):
    """503 with ``Retry-After``: the agency already runs as many scans as it may."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Too many heatmaps of this agency are being counted right now; retry soon."
    default_code = "scans_busy"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        #: DRF's handler writes ``Retry-After`` from ``wait``, as for a 429.
        self.wait = retry_after


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, ``WWW-Authenticate``, ``Allow``, ``Retry-After``), then the body.

    A 400 keeps DRF's shape, each bad parameter with its messages: its fields are
    the contract's, and one ``code`` could not name several mistakes.
    """
    if isinstance(exc, Http404):
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
