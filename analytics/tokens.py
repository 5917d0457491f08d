"""Verify Supabase access tokens, free of DRF so any caller can use it.

Supabase signs access tokens with an asymmetric key from the project's JWKS
(ES256, or RS256) or, in older projects, with the legacy HS256 secret. The
verification key follows from the token's header and our configuration, never
from the token alone: the algorithm is pinned to the JWKS key's own, and HS256
is tried only with the configured secret.

PyJWT's errors are translated into our own, each with a stable ``code``, so
the HTTP layer can say what kind of failure it was without echoing the token.
A JWKS that cannot be read raises ``analytics.jwks.JWKSUnavailable`` instead:
that is the server's fault, not the token's.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

import jwt

from analytics.conf import conf
from analytics.jwks import SIGNING_ALGORITHMS, signing_keys

#: Supabase tokens are well under 2 KB; a bigger one is garbage or an attack.
MAX_TOKEN_LENGTH = 8 * 1024
AUTHENTICATED_ROLE = "authenticated"
LEGACY_ALGORITHM = "HS256"

#: One unpadded base64url segment of a JWS in compact form (``alg: none`` leaves the last empty).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    code: ClassVar[str] = "token_invalid"
    message: ClassVar[str] = "The access token is invalid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class TokenMalformed(TokenError):
    code = "token_malformed"
    message = "The access token is not a well-formed JWT."


class TokenHeaderUnsupported(TokenError):
    code = "token_header_unsupported"
    message = "The access token's header asks for an extension this server does not support."


class TokenAlgorithmNotAllowed(TokenError):
    code = "token_algorithm_not_allowed"
    message = "The access token is signed with an algorithm this server does not accept."


class TokenKeyUnknown(TokenError):
    code = "token_unknown_key"
    message = "The access token names no signing key this server knows."


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


class TokenIssuerInvalid(TokenError):
    code = "token_bad_issuer"
    message = "The access token was not issued by this Supabase project."


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
    """Verify ``token`` and return its subject and claims.

    Raises a ``TokenError`` for any token that is not a valid access token of a
    signed-in user, and ``JWKSUnavailable`` when the JWKS cannot be read.
    """
    header = _parse(token)
    key, algorithm = _verification_key(header)
    issuer = conf.JWT_ISSUER
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=conf.JWT_AUDIENCE,
            issuer=issuer,
            leeway=conf.JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "sub", "aud", *(["iss"] if issuer else [])]},
        )
    except jwt.PyJWTError as exc:
        raise _translate(exc) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        # Hostile input reaches PyJWT's decoding: never a 500.
        raise TokenMalformed from exc
    _check_claims(claims)
    return AccessToken(user_id=_user_id(claims), claims=claims)


def _parse(token: str) -> dict[str, Any]:
    """The unverified header, once the token has the shape of a compact JWS.

    Checking the shape first (three base64url segments, a JSON object header and
    payload) means every later PyJWT error is about the signature or the claims.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenMalformed("The access token is too long.")
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenMalformed
    header_segment, payload_segment, signature_segment = segments
    header = _json_object(_base64url_decode(header_segment))
    _json_object(_base64url_decode(payload_segment))
    _base64url_decode(signature_segment)
    if "crit" in header or "b64" in header:
        # Supabase uses no JWS extension; one we do not understand must not be ignored.
        raise TokenHeaderUnsupported
    if not isinstance(header.get("alg"), str):
        raise TokenMalformed("The access token's header names no algorithm.")
    if "kid" in header and not isinstance(header["kid"], str):
        raise TokenMalformed("The access token's key id is not a string.")
    return header


def _base64url_decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenMalformed
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenMalformed from exc
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        # Stray trailing bits: one token must have exactly one spelling.
        raise TokenMalformed
    return data


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise TokenMalformed from exc
    if not isinstance(value, dict):
        raise TokenMalformed
    return value


def _verification_key(header: Mapping[str, Any]) -> tuple[Any, str]:
    """The key and the one algorithm ``header`` may be verified with."""
    algorithm: str = header["alg"]
    if algorithm == LEGACY_ALGORITHM:
        secret = conf.SUPABASE_JWT_SECRET
        if not secret:
            raise TokenAlgorithmNotAllowed("HS256 access tokens are not accepted here.")
        return secret, algorithm
    if algorithm not in SIGNING_ALGORITHMS:
        raise TokenAlgorithmNotAllowed
    kid = header.get("kid")
    if not kid:
        raise TokenKeyUnknown("The access token does not name its signing key.")
    keys = signing_keys()
    if keys is None:
        raise TokenAlgorithmNotAllowed(
            "Asymmetrically signed access tokens are not accepted here: no JWKS is configured."
        )
    key = keys.get(kid)
    if key is None:
        raise TokenKeyUnknown
    if key.algorithm_name != algorithm:
        raise TokenAlgorithmNotAllowed("The access token's algorithm is not its key's.")
    return key.key, algorithm


def _translate(exc: jwt.PyJWTError) -> TokenError:
    """Our error for PyJWT's; the shape was checked before, so the rest is meaning."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim == "aud":
            return TokenAudienceInvalid("The access token names no audience.")
        if exc.claim == "iss":
            return TokenIssuerInvalid("The access token names no issuer.")
        return TokenClaimsInvalid(f"The access token has no {exc.claim} claim.")
    translations: list[tuple[type[jwt.PyJWTError], type[TokenError]]] = [
        (jwt.ExpiredSignatureError, TokenExpired),
        (jwt.ImmatureSignatureError, TokenNotYetValid),
        (jwt.InvalidAudienceError, TokenAudienceInvalid),
        (jwt.InvalidIssuerError, TokenIssuerInvalid),
        (jwt.InvalidSignatureError, TokenSignatureInvalid),
        (jwt.InvalidAlgorithmError, TokenAlgorithmNotAllowed),
        # Left after the signature: a time claim that is not a number, a non-string sub.
        (jwt.InvalidTokenError, TokenClaimsInvalid),
    ]
    for pyjwt_error, token_error in translations:
        if isinstance(exc, pyjwt_error):
            return token_error()
    return TokenError()


def _check_claims(claims: Mapping[str, Any]) -> None:
    """What PyJWT leaves to us: strict time claim types and the signed-in user's role."""
    for name in ("exp", "nbf", "iat"):
        # PyJWT reads "exp": "1700000000" as a number; a NumericDate is a JSON number.
        if name in claims and not _is_number(claims[name]):
            raise TokenClaimsInvalid(f"The access token's {name} claim is not a number.")
    # Anon and service_role keys verify with the same secret: the role tells them apart.
    if claims.get("role") != AUTHENTICATED_ROLE:
        raise TokenNotForUser


def _user_id(claims: Mapping[str, Any]) -> UUID:
    subject = claims.get("sub")
    user_id = _canonical_uuid(subject) if isinstance(subject, str) else None
    if user_id is None:
        raise TokenClaimsInvalid("The access token's subject is not a user id.")
    return user_id


def _canonical_uuid(value: str) -> UUID | None:
    """Supabase user ids are written the one canonical way; nothing else names a user."""
    try:
        parsed = UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)
