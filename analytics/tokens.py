"""Verify Supabase access tokens, free of DRF so any caller can use it.

PyJWT's errors are translated into our own, each with a stable ``code``, so
the HTTP layer can say what kind of failure it was without echoing the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

import jwt

from analytics.conf import conf

#: Supabase tokens are well under 2 KB; a bigger one is garbage or an attack.
MAX_TOKEN_LENGTH = 8 * 1024
AUTHENTICATED_ROLE = "authenticated"


class TokenError(Exception):
    code: ClassVar[str] = "token_invalid"
    message: ClassVar[str] = "The access token is invalid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class TokenMalformed(TokenError):
    code = "token_malformed"
    message = "The access token is not a well-formed JWT."


class TokenAlgorithmNotAllowed(TokenError):
    code = "token_algorithm_not_allowed"
    message = "The access token is signed with an algorithm this server does not accept."


class TokenSignatureInvalid(TokenError):
    code = "token_bad_signature"
    message = "The access token's signature does not verify."


class TokenExpired(TokenError):
    code = "token_expired"
    message = "The access token has expired."


class TokenNotYetValid(TokenError):
    code = "token_not_yet_valid"
    message = "The access token is not valid yet."


class TokenAudienceInvalid(TokenError):
    code = "token_bad_audience"
    message = "The access token is not meant for this audience."


class TokenClaimsInvalid(TokenError):
    code = "token_bad_claims"
    message = "The access token's claims are missing or invalid."


class TokenNotForUser(TokenError):
    code = "token_not_user"
    message = "Only a signed-in user's access token is accepted here."


@dataclass(frozen=True)
class AccessToken:
    user_id: UUID
    claims: Mapping[str, Any]


def decode_access_token(token: str) -> AccessToken:
    """Verify ``token`` and return its subject and claims, or raise a ``TokenError``."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenMalformed("The access token is too long.")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        raise TokenMalformed from exc
    secret = conf.SUPABASE_JWT_SECRET
    if header.get("alg") != "HS256" or not secret:
        raise TokenAlgorithmNotAllowed
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=conf.JWT_AUDIENCE,
            leeway=conf.JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenNotYetValid from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenAudienceInvalid from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenSignatureInvalid from exc
    except (jwt.MissingRequiredClaimError, jwt.InvalidIssuedAtError) as exc:
        raise TokenClaimsInvalid from exc
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        # Hostile input reaches PyJWT's JSON and base64 decoding: never a 500.
        raise TokenMalformed from exc
    return AccessToken(user_id=_user_id(claims), claims=claims)


def _user_id(claims: Mapping[str, Any]) -> UUID:
    # Anon and service_role keys verify with the same secret: the role tells them apart.
    if claims.get("role") != AUTHENTICATED_ROLE:
        raise TokenNotForUser
    try:
        return UUID(claims["sub"])
    except (TypeError, ValueError, AttributeError) as exc:
        raise TokenClaimsInvalid("The access token's subject is not a user id.") from exc
