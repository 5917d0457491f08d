"""Verify Supabase access tokens, free of DRF so any caller can use it.

Supabase signs access tokens with an asymmetric key from the project's JWKS
(ES256, or RS256) or, in older projects, with the legacy HS256 secret. The
verification key follows from the token's header and our configuration, never
from the token alone: the algorithm is pinned to the JWKS key's own, HS256 is
tried only with the configured secret, and no key the header carries or points
to (``jwk``, ``jku``, ``x5u``) is ever used.

PyJWT reads and verifies the token. What is left here is what PyJWT does not
decide for us: the length cap, one spelling per token, which key and algorithm,
and Supabase's own claim rules. PyJWT's errors are translated into our own,
each with a stable ``code``, so the HTTP layer can say what kind of failure it
was without echoing the token. A JWKS that cannot be read raises
``analytics.jwks.JWKSUnavailable`` instead: that is the server's fault, not the
token's.
"""

from __future__ import annotations

import math
import re
import time
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

_BASE64URL = "[A-Za-z0-9_-]"
#: One base64url segment, unpadded and canonical: whole quanta, then two or three
#: characters whose unused low bits are zero (``alg: none`` leaves the signature empty).
_SEGMENT = rf"(?:{_BASE64URL}{{4}})*(?:{_BASE64URL}[AQgw]|{_BASE64URL}{{2}}[AEIMQUYcgkosw048])?"
_COMPACT_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")


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
    """A verified token, its claims read once: later layers take these values, not strings.

    ``session_id`` is ``None`` when the claim is missing or not a canonical UUID;
    only a caller that needs the session (``ANALYTICS_REQUIRE_LIVE_SESSION``)
    refuses such a token.
    """

    user_id: UUID
    claims: Mapping[str, Any]
    is_anonymous: bool = False
    session_id: UUID | None = None


def decode_access_token(token: str) -> AccessToken:
    """Verify ``token`` and return its subject and claims.

    Raises a ``TokenError`` for any token that is not a valid access token of a
    signed-in user, and ``JWKSUnavailable`` when the JWKS cannot be read.
    """
    header = _read_header(token)
    key, algorithm = _verification_key(header)
    claims = _verified_claims(token, key, algorithm)
    _check_claims(claims)
    session_id = claims.get("session_id")
    return AccessToken(
        user_id=_user_id(claims),
        claims=claims,
        is_anonymous=claims.get("is_anonymous", False),
        session_id=_canonical_uuid(session_id) if isinstance(session_id, str) else None,
    )


def _read_header(token: str) -> dict[str, Any]:
    """The unverified header, once PyJWT has read the token as a JWS of two JSON objects.

    Reading all of it before any key is looked up means a garbled token is
    malformed, not forged, and never makes us fetch the JWKS.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenMalformed("The access token is too long.")
    if not _COMPACT_JWS.fullmatch(token):
        # One token, one spelling: PyJWT 2.13 skips junk and stray bits, 2.15 accepts "=".
        raise TokenMalformed
    try:
        header = jwt.get_unverified_header(token)
        # PyJWT reads the payload only after the signature; we want its shape first.
        jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        raise TokenMalformed from exc
    except jwt.InvalidTokenError as exc:
        # PyJWT refuses a non-string kid and a crit it lacks with one error; its message tells.
        if "crit" in str(exc).lower():
            raise TokenHeaderUnsupported from exc
        raise TokenMalformed("The access token's header is not valid.") from exc
    except RecursionError as exc:
        # PyJWT 2.13 lets deeply nested JSON escape.
        raise TokenMalformed from exc
    if "crit" in header or "b64" in header:
        # Supabase uses no JWS extension; PyJWT lets crit: ["b64"] and b64: true through.
        raise TokenHeaderUnsupported
    if not isinstance(header.get("alg"), str):
        # PyJWT calls a missing alg an algorithm error; it is a malformed header.
        raise TokenMalformed("The access token's header names no algorithm.")
    return header


def _verification_key(header: Mapping[str, Any]) -> tuple[str | jwt.PyJWK, str]:
    """The key and the one algorithm ``header`` may be verified with.

    A JWKS key comes as a ``PyJWK``, so PyJWT itself refuses a token whose
    ``alg`` is not that key's own.
    """
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
    return key, key.algorithm_name


def _verified_claims(token: str, key: str | jwt.PyJWK, algorithm: str) -> dict[str, Any]:
    """The claims, once PyJWT has checked the signature, the times, the audience and issuer."""
    issuer = conf.JWT_ISSUER
    try:
        return jwt.decode(
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
    except (TypeError, OverflowError) as exc:
        # PyJWT 2.13 lets int() fail on a time claim such as "nbf": [1] or "exp": Infinity.
        raise TokenClaimsInvalid from exc


def _translate(exc: jwt.PyJWTError) -> TokenError:
    """Our error for PyJWT's; the token was read before, so the rest is meaning."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim == "aud":
            return TokenAudienceInvalid("The access token names no audience.")
        if exc.claim == "iss":
            return TokenIssuerInvalid("The access token names no issuer.")
        return TokenClaimsInvalid(f"The access token has no {exc.claim} claim.")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        # The only algorithm allowed was the key's own.
        return TokenAlgorithmNotAllowed("The access token's algorithm is not its key's.")
    translations: list[tuple[type[jwt.PyJWTError], type[TokenError]]] = [
        (jwt.ExpiredSignatureError, TokenExpired),
        (jwt.ImmatureSignatureError, TokenNotYetValid),
        (jwt.InvalidAudienceError, TokenAudienceInvalid),
        (jwt.InvalidIssuerError, TokenIssuerInvalid),
        (jwt.InvalidSignatureError, TokenSignatureInvalid),
        # Left after the signature: a time claim that is not a number, a non-string sub.
        (jwt.InvalidTokenError, TokenClaimsInvalid),
    ]
    for pyjwt_error, token_error in translations:
        if isinstance(exc, pyjwt_error):
            return token_error()
    return TokenError()


def _check_claims(claims: Mapping[str, Any]) -> None:
    """What PyJWT leaves to us: strict time claim types, the signed-in user's role, a
    lifetime Supabase could have given, and an ``is_anonymous`` that is a boolean."""
    for name in ("exp", "nbf", "iat"):
        # PyJWT reads "exp": "1700000000" as a number; a NumericDate is a JSON number.
        if name in claims and not _is_number(claims[name]):
            raise TokenClaimsInvalid(f"The access token's {name} claim is not a number.")
    # Anon and service_role keys verify with the same secret: the role tells them apart.
    if claims.get("role") != AUTHENTICATED_ROLE:
        raise TokenNotForUser
    _check_lifetime(claims)
    if not isinstance(claims.get("is_anonymous", False), bool):
        # Supabase writes true or false; anything else cannot say who signed in.
        raise TokenClaimsInvalid("The access token's is_anonymous claim is not true or false.")


def _check_lifetime(claims: Mapping[str, Any]) -> None:
    """Supabase Auth never issues a token for longer than a week (``jwt_exp``).

    A longer one was minted elsewhere with a leaked secret, or is a key mistaken
    for a token; it would outlive every sign-out. Without ``iat`` the lifetime
    left (``exp - now``) is measured instead, so a far ``exp`` alone is refused.
    """
    start = claims["iat"] if "iat" in claims else time.time()
    limit = conf.JWT_MAX_LIFETIME_SECONDS + conf.JWT_LEEWAY_SECONDS
    try:
        # Compared, not subtracted: Python compares a huge int with a float exactly.
        too_long = claims["exp"] > start + limit
    except OverflowError:
        # An iat such as -10**400, too far from any float to add a limit to.
        too_long = True
    if too_long:
        raise TokenClaimsInvalid(
            "The access token lives longer than Supabase ever issues a token for "
            f"({conf.JWT_MAX_LIFETIME_SECONDS:g} seconds from iat to exp)."
        )


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
