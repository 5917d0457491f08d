"""Verify Supabase access tokens, free of DRF so any caller can use it.

Supabase signs access tokens with an asymmetric key from the project's JWKS
(ES256, or RS256) or, in older projects, with the legacy HS256 secret. The
verification key follows from the token's header and our configuration, never
from the token alone: the algorithm is pinned to the JWKS key's own, HS256 is
tried only with the configured secret, and no key the header carries or points
to (``jwk``, ``jku``, ``x5u``) is ever used.

PyJWT reads and verifies the token. What is left here is what PyJWT does not
decide for us: the length cap, one spelling per token, which key and algorithm,
and Supabase's own claim rules. PyJWT's errors are translated into our own
``AuthError``, its ``code`` saying what kind of failure it was without echoing the
token. A JWKS that cannot be read is an ``AuthError`` too, coded
``jwks_unavailable``: the server's fault, not the token's.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt

from analytics.auth.jwks import SIGNING_ALGORITHMS, signing_keys
from analytics.conf import conf
from analytics.exceptions import AuthError

#: Supabase tokens are well under 2 KB; a bigger one is garbage or an attack.
MAX_TOKEN_LENGTH = 8 * 1024
AUTHENTICATED_ROLE = "authenticated"
#: Supabase gives signed-in users' tokens ``aud: authenticated``.
AUDIENCE = "authenticated"
#: Supabase Auth never issues a token for longer than a week (``jwt_exp``).
MAX_LIFETIME_SECONDS = 7 * 24 * 3600
LEGACY_ALGORITHM = "HS256"

_BASE64URL = "[A-Za-z0-9_-]"
#: One base64url segment, unpadded and canonical: whole quanta, then two or three
#: characters whose unused low bits are zero (``alg: none`` leaves the signature empty).
_SEGMENT = rf"(?:{_BASE64URL}{{4}})*(?:{_BASE64URL}[AQgw]|{_BASE64URL}{{2}}[AEIMQUYcgkosw048])?"
_COMPACT_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")


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

    Raises an ``AuthError`` for any token that is not a valid access token of a
    signed-in user (``jwks_unavailable`` when the JWKS cannot be read).
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
        raise AuthError("The access token is too long.", code="token_malformed")
    if not _COMPACT_JWS.fullmatch(token):
        # One token, one spelling: PyJWT 2.13 skips junk and stray bits, 2.15 accepts "=".
        raise AuthError(code="token_malformed")
    try:
        header = jwt.get_unverified_header(token)
        # PyJWT reads the payload only after the signature; we want its shape first.
        jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        raise AuthError(code="token_malformed") from exc
    except jwt.InvalidTokenError as exc:
        # PyJWT refuses a non-string kid and a crit it lacks with one error; its message tells.
        if "crit" in str(exc).lower():
            raise AuthError(code="token_header_unsupported") from exc
        raise AuthError("The access token's header is not valid.", code="token_malformed") from exc
    except RecursionError as exc:
        # PyJWT 2.13 lets deeply nested JSON escape.
        raise AuthError(code="token_malformed") from exc
    if "crit" in header or "b64" in header:
        # Supabase uses no JWS extension; PyJWT lets crit: ["b64"] and b64: true through.
        raise AuthError(code="token_header_unsupported")
    if not isinstance(header.get("alg"), str):
        # PyJWT calls a missing alg an algorithm error; it is a malformed header.
        raise AuthError("The access token's header names no algorithm.", code="token_malformed")
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
            raise AuthError(
                "HS256 access tokens are not accepted here.", code="token_algorithm_not_allowed"
            )
        return secret, algorithm
    if algorithm not in SIGNING_ALGORITHMS:
        raise AuthError(code="token_algorithm_not_allowed")
    kid = header.get("kid")
    if not kid:
        raise AuthError("The access token does not name its signing key.", code="token_unknown_key")
    keys = signing_keys()
    if keys is None:
        raise AuthError(
            "Asymmetrically signed access tokens are not accepted here: no JWKS is configured.",
            code="token_algorithm_not_allowed",
        )
    key = keys.get(kid)
    if key is None:
        raise AuthError(code="token_unknown_key")
    return key, key.algorithm_name


def _verified_claims(token: str, key: str | jwt.PyJWK, algorithm: str) -> dict[str, Any]:
    """The claims, once PyJWT has checked the signature, the times, the audience and issuer."""
    issuer = conf.JWT_ISSUER
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=issuer,
            leeway=conf.JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "sub", "aud", *(["iss"] if issuer else [])]},
        )
    except jwt.PyJWTError as exc:
        raise _translate(exc) from exc
    except (TypeError, OverflowError) as exc:
        # PyJWT 2.13 lets int() fail on a time claim such as "nbf": [1] or "exp": Infinity.
        raise AuthError(code="token_bad_claims") from exc


def _translate(exc: jwt.PyJWTError) -> AuthError:
    """Our error for PyJWT's; the token was read before, so the rest is meaning."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim == "aud":
            return AuthError("The access token names no audience.", code="token_bad_audience")
        if exc.claim == "iss":
            return AuthError("The access token names no issuer.", code="token_bad_issuer")
        return AuthError(f"The access token has no {exc.claim} claim.", code="token_bad_claims")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        # The only algorithm allowed was the key's own.
        return AuthError(
            "The access token's algorithm is not its key's.", code="token_algorithm_not_allowed"
        )
    translations: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "token_expired"),
        (jwt.ImmatureSignatureError, "token_not_yet_valid"),
        (jwt.InvalidAudienceError, "token_bad_audience"),
        (jwt.InvalidIssuerError, "token_bad_issuer"),
        (jwt.InvalidSignatureError, "token_bad_signature"),
        # Left after the signature: a time claim that is not a number, a non-string sub.
        (jwt.InvalidTokenError, "token_bad_claims"),
    ]
    for pyjwt_error, code in translations:
        if isinstance(exc, pyjwt_error):
            return AuthError(code=code)
    return AuthError()


def _check_claims(claims: Mapping[str, Any]) -> None:
    """What PyJWT leaves to us: strict time claim types, the signed-in user's role, a
    lifetime Supabase could have given, and an ``is_anonymous`` that is a boolean."""
    for name in ("exp", "nbf", "iat"):
        # PyJWT reads "exp": "1700000000" as a number; a NumericDate is a JSON number.
        if name in claims and not _is_number(claims[name]):
            raise AuthError(
                f"The access token's {name} claim is not a number.", code="token_bad_claims"
            )
    # Anon and service_role keys verify with the same secret: the role tells them apart.
    if claims.get("role") != AUTHENTICATED_ROLE:
        raise AuthError(code="token_not_user")
    _check_lifetime(claims)
    if not isinstance(claims.get("is_anonymous", False), bool):
        # Supabase writes true or false; anything else cannot say who signed in.
        raise AuthError(
            "The access token's is_anonymous claim is not true or false.", code="token_bad_claims"
        )


def _check_lifetime(claims: Mapping[str, Any]) -> None:
    """Supabase Auth never issues a token for longer than a week (``jwt_exp``).

    A longer one was minted elsewhere with a leaked secret, or is a key mistaken
    for a token; it would outlive every sign-out. Without ``iat`` the lifetime
    left (``exp - now``) is measured instead, so a far ``exp`` alone is refused.
    """
    start = claims["iat"] if "iat" in claims else time.time()
    limit = MAX_LIFETIME_SECONDS + conf.JWT_LEEWAY_SECONDS
    try:
        # Compared, not subtracted: Python compares a huge int with a float exactly.
        too_long = claims["exp"] > start + limit
    except OverflowError:
        # An iat such as -10**400, too far from any float to add a limit to.
        too_long = True
    if too_long:
        raise AuthError(
            "The access token lives longer than Supabase ever issues a token for "
            f"({MAX_LIFETIME_SECONDS} seconds from iat to exp).",
            code="token_bad_claims",
        )


def _user_id(claims: Mapping[str, Any]) -> UUID:
    subject = claims.get("sub")
    user_id = _canonical_uuid(subject) if isinstance(subject, str) else None
    if user_id is None:
        raise AuthError("The access token's subject is not a user id.", code="token_bad_claims")
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
