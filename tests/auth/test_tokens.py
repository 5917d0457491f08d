"""``analytics.auth.tokens``: access tokens verified with real keys served over real HTTP.

The key store's own behaviour (its cache, cooldowns and faults) is in ``test_jwks.py``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from time_machine import TimeMachineFixture

from analytics.auth.jwks import forget_signing_keys
from analytics.auth.tokens import decode_access_token
from analytics.conf import conf
from analytics.exceptions import MESSAGES, AuthError
from tests.helpers import JWKS_PATH, JWKSServer, Keys, claims, hs256_token

WEEK = 7 * 24 * 3600


def refusal(token: str) -> AuthError:
    """The error ``token`` is refused with."""
    with pytest.raises(AuthError) as raised:
        decode_access_token(token)
    return raised.value


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to when the test runs, not to when it was collected."""

    seconds: float

    def __repr__(self) -> str:
        return f"now{self.seconds:+g}s"


# --- What verifies -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["es256", "rs256", "standby"])
def test_a_token_signed_with_any_published_key_verifies(
    supabase_project: JWKSServer, project_keys: Keys, name: str
) -> None:
    payload = claims()
    access_token = decode_access_token(getattr(project_keys, name).sign(payload))
    assert access_token.user_id == uuid.UUID(payload["sub"])
    assert access_token.claims == payload


def test_a_legacy_hs256_token_verifies_with_the_secret(supabase_project: JWKSServer) -> None:
    payload = claims()
    token = jwt.encode(payload, settings.SUPABASE_JWT_SECRET, algorithm="HS256")
    assert decode_access_token(token).claims == payload
    assert supabase_project.requests == 0, "HS256 needs no JWKS"


def test_without_a_secret_hs256_is_refused(supabase_project: JWKSServer) -> None:
    token = jwt.encode(claims(), settings.SUPABASE_JWT_SECRET, algorithm="HS256")
    with override_settings(SUPABASE_JWT_SECRET=None):
        assert refusal(token).code == "token_algorithm_not_allowed"


def test_without_a_jwks_asymmetric_tokens_are_refused(
    jwks_server: JWKSServer, project_keys: Keys
) -> None:
    assert refusal(project_keys.es256.sign(claims())).code == "token_algorithm_not_allowed"
    assert jwks_server.requests == 0


@pytest.mark.parametrize("suffix", ["", "/"])
def test_the_jwks_address_and_issuer_follow_from_supabase_url(
    jwks_server: JWKSServer, project_keys: Keys, suffix: str
) -> None:
    forget_signing_keys()
    with override_settings(SUPABASE_URL=jwks_server.base_url + suffix):
        jwks_url, issuer = conf.JWKS_URL, conf.JWT_ISSUER
        assert jwks_url == f"{jwks_server.base_url}{JWKS_PATH}"
        assert issuer == f"{jwks_server.base_url}/auth/v1"
        payload = claims(iss=f"{jwks_server.base_url}/auth/v1")
        assert decode_access_token(project_keys.es256.sign(payload)).claims == payload
        assert refusal(project_keys.es256.sign(claims())).code == "token_bad_issuer"
    assert jwks_server.requests == 1


def test_supabase_jwks_url_overrides_the_derived_address(
    jwks_server: JWKSServer, project_keys: Keys
) -> None:
    forget_signing_keys()
    with override_settings(
        SUPABASE_URL="http://127.0.0.1:9", SUPABASE_JWKS_URL=jwks_server.jwks_url
    ):
        token = project_keys.rs256.sign(claims(iss="http://127.0.0.1:9/auth/v1"))
        assert decode_access_token(token).claims["iss"] == "http://127.0.0.1:9/auth/v1"


def test_the_audience_is_supabases_whatever_the_settings_say(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    """``ANALYTICS_JWT_AUDIENCE`` is gone (``analytics.W005`` names it): ``authenticated`` it is."""
    with override_settings(ANALYTICS_JWT_AUDIENCE="dashboard"):
        decode_access_token(project_keys.es256.sign(claims(aud="authenticated")))
        assert refusal(project_keys.es256.sign(claims(aud="dashboard"))).code == (
            "token_bad_audience"
        )


# --- Claims within the leeway, and the sub ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": FromNow(-10)}, None),
        ({"exp": FromNow(-60)}, "token_expired"),
        ({"nbf": FromNow(10)}, None),
        ({"nbf": FromNow(60)}, "token_not_yet_valid"),
        ({"iat": FromNow(10)}, None),
        ({"iat": FromNow(60)}, "token_not_yet_valid"),
        ({"exp": FromNow(3600.5)}, None),
        ({"exp": "9999999999"}, "token_bad_claims"),
        ({"exp": True}, "token_expired"),
        ({"iat": "now"}, "token_bad_claims"),
        ({"nbf": [1]}, "token_bad_claims"),
        ({"exp": 10**400}, "token_bad_claims"),
        ({"exp": math.inf}, "token_bad_claims"),
        ({"iat": -math.inf}, "token_bad_claims"),
        ({"nbf": math.nan}, "token_bad_claims"),
        ({"aud": ["authenticated", "other"]}, None),
        ({"aud": ["other"]}, "token_bad_audience"),
        ({"aud": ""}, "token_bad_audience"),
        ({"aud": 1}, "token_bad_audience"),
        ({"iss": None}, "token_bad_issuer"),
        ({"iss": ["https://abcdefghijklmnop.supabase.co/auth/v1"]}, "token_bad_issuer"),
        ({"sub": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}, None),
        ({"sub": "{6f9619ff-8b86-d011-b42d-00c04fc964ff}"}, "token_bad_claims"),
        ({"sub": "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff"}, "token_bad_claims"),
        ({"sub": "6f9619ff8b86d011b42d00c04fc964ff"}, "token_bad_claims"),
        ({"sub": 42}, "token_bad_claims"),
        ({"role": None}, "token_not_user"),
        ({"role": "anon"}, "token_not_user"),
        # Longer than Supabase's one-week maximum, measured from iat, or from now without it.
        ({"exp": FromNow(8 * 86400)}, "token_bad_claims"),
        ({"iat": FromNow(-8 * 86400)}, "token_bad_claims"),
        ({"iat": -(10**400)}, "token_bad_claims"),
        ({"iat": None, "exp": 1e30}, "token_bad_claims"),
        ({"iat": None, "exp": FromNow(8 * 86400)}, "token_bad_claims"),
        ({"is_anonymous": "true"}, "token_bad_claims"),
        ({"is_anonymous": 1}, "token_bad_claims"),
    ],
    ids=repr,
)
def test_claims(
    supabase_project: JWKSServer,
    project_keys: Keys,
    overrides: dict[str, object],
    code: str | None,
) -> None:
    resolved = {
        name: int(time.time()) + value.seconds if isinstance(value, FromNow) else value
        for name, value in overrides.items()
    }
    token = project_keys.es256.sign(claims(**resolved))
    if code is None:
        decode_access_token(token)
    else:
        assert refusal(token).code == code


@pytest.mark.parametrize("iat", [True, False], ids=["from iat", "from now, without iat"])
def test_a_lifetime_of_a_week_and_the_leeway_is_the_longest_accepted(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture, iat: bool
) -> None:
    """Supabase's ``jwt_exp`` is at most a week; the leeway (30 s) gives the clocks slack.

    The clock stands still, so without iat "now" is the same second for the test and the check.
    """
    now = int(time.time())
    start = {"iat": now} if iat else {"iat": None}
    decode_access_token(project_keys.es256.sign(claims(**start, exp=now + WEEK + 30)))
    too_long = refusal(project_keys.es256.sign(claims(**start, exp=now + WEEK + 31)))
    assert too_long.code == "token_bad_claims"
    assert str(too_long) == (
        "The access token lives longer than Supabase ever issues a token for "
        "(604800 seconds from iat to exp)."
    )


def test_the_longest_lifetime_is_a_week_whatever_the_settings_say(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    """``ANALYTICS_JWT_MAX_LIFETIME_SECONDS`` is gone (``analytics.W005`` names it)."""
    now = int(time.time())
    with override_settings(ANALYTICS_JWT_MAX_LIFETIME_SECONDS=3600):
        decode_access_token(project_keys.es256.sign(claims(iat=now, exp=now + 2 * 3600)))
        too_long = project_keys.es256.sign(claims(iat=now, exp=now + WEEK + 3600))
        assert "604800 seconds" in str(refusal(too_long))


def test_the_session_and_anonymity_are_read_once(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    """The values later layers use; a session_id that is not a canonical UUID names none."""
    session = uuid.uuid4()
    signed_in = decode_access_token(project_keys.es256.sign(claims(session_id=str(session))))
    assert (signed_in.session_id, signed_in.is_anonymous) == (session, False)
    anonymous = decode_access_token(project_keys.es256.sign(claims(is_anonymous=True)))
    assert anonymous.is_anonymous is True
    for odd in [None, "", "not-a-uuid", str(session).replace("-", ""), 42, [str(session)]]:
        token = project_keys.es256.sign(claims(session_id=odd, is_anonymous=None))
        access_token = decode_access_token(token)
        assert (access_token.session_id, access_token.is_anonymous) == (None, False)


def test_an_error_says_its_code_and_message_and_never_echoes_the_token(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    token = project_keys.es256.sign(claims(exp=int(time.time()) - 3600))
    error = refusal(token)
    assert (error.code, error.message) == ("token_expired", MESSAGES["token_expired"])
    for part in token.split("."):
        assert part not in str(error)
        assert part not in repr(error)


# --- What PyJWT reads differently across the versions we support ------------------------


@pytest.mark.parametrize(
    "respell",
    [
        lambda token: token + "==",
        lambda token: f"{token[:-5]}~~~~{token[-5:]}",
        lambda token: f"{token[:-5]}\n{token[-5:]}",
    ],
    ids=["padded signature", "junk inside the signature", "newline inside the signature"],
)
def test_a_valid_token_spelled_another_way_is_malformed(
    supabase_project: JWKSServer, project_keys: Keys, respell: Callable[[str], str]
) -> None:
    """The signature is not signed itself: every spelling of it but one must be refused."""
    token = project_keys.es256.sign(claims())
    assert len(token.split(".")[2]) % 4 == 2, "two characters short of a quantum"
    decode_access_token(token)
    assert refusal(respell(token)).code == "token_malformed"


@pytest.mark.parametrize(
    "extension",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": "exp", "exp": 1},
        {"crit": []},
        {"crit": [7]},
        {"crit": ["b64"]},
        {"crit": ["b64"], "b64": True},
        {"b64": True},
    ],
    ids=repr,
)
def test_every_jws_extension_is_unsupported(
    supabase_project: JWKSServer, extension: dict[str, object]
) -> None:
    token = hs256_token({"alg": "HS256", **extension}, claims(), settings.SUPABASE_JWT_SECRET)
    assert refusal(token).code == "token_header_unsupported"


def test_a_detached_payload_is_malformed(supabase_project: JWKSServer) -> None:
    """RFC 7797's ``b64: false`` leaves the payload segment empty: a token without claims."""
    secret = settings.SUPABASE_JWT_SECRET
    token = jwt.PyJWS().encode(
        json.dumps(claims()).encode(), secret, algorithm="HS256", is_payload_detached=True
    )
    assert token.split(".")[1] == ""
    assert refusal(token).code == "token_malformed"


@pytest.mark.parametrize("kid", [7, None, ["k"], {"k": 1}, True])
def test_a_kid_that_is_not_a_string_is_malformed(supabase_project: JWKSServer, kid: object) -> None:
    token = hs256_token({"alg": "HS256", "kid": kid}, claims(), settings.SUPABASE_JWT_SECRET)
    assert refusal(token).code == "token_malformed"


@pytest.mark.parametrize("alg", [None, 256, ["ES256"], {"ES256": 1}])
def test_an_alg_that_is_not_a_string_is_malformed(
    supabase_project: JWKSServer, project_keys: Keys, alg: object
) -> None:
    header = {"alg": alg, "kid": project_keys.es256.kid}
    token = hs256_token(header, claims(), settings.SUPABASE_JWT_SECRET)
    assert refusal(token).code == "token_malformed"
