"""The HTTP errors the app answers with, each a DRF ``APIException`` with a stable code."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, AuthenticationFailed, PermissionDenied


class _CodedMixin:
    """Put the machine-readable ``code`` in the body beside ``detail``."""

    default_detail: Any
    default_code: str

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        code = code or self.default_code
        body = {"detail": detail or str(self.default_detail), "code": code}
        super().__init__(body, code)  # type: ignore[call-arg]


class InvalidToken(_CodedMixin, AuthenticationFailed):
    """401; DRF adds ``WWW-Authenticate`` from the authentication class."""

    default_detail = "The access token is invalid."
    default_code = "token_invalid"


class InvalidAuthorizationHeader(_CodedMixin, AuthenticationFailed):
    default_detail = "The Authorization header must be 'Bearer <access token>'."
    default_code = "authorization_header_invalid"


class UserNotFound(_CodedMixin, PermissionDenied):
    default_detail = "No user exists for this access token."
    default_code = "user_not_found"


class UserHasNoAgency(_CodedMixin, PermissionDenied):
    default_detail = "This user does not belong to an agency."
    default_code = "user_without_agency"


class UsersQueryFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Failed to query users table"
    default_code = "users_query_failed"


class CallsQueryFailed(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "Failed to query calls table"
    default_code = "calls_query_failed"


class SigningKeysUnavailable(_CodedMixin, APIException):
    """503: the JWKS could not be read, so no asymmetric token can be checked right now."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The keys that verify access tokens cannot be read right now; try again soon."
    default_code = "jwks_unavailable"
