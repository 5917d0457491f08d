"""The Supabase project's signing keys, read from its JWKS and kept per process.

One ``jwt.PyJWKClient`` per process fetches and parses the key set. Around it
this module keeps what verification needs and PyJWT's own cache does not give
on every supported PyJWT version:

- keys are trusted for at most the cache lifetime, never longer, so a revoked
  key stops verifying once the lifetime has passed, even if the JWKS is down;
  the lifetime and the cooldowns below are read on the wall clock (``time.time``),
  and a clock set back counts as each having passed, never as a longer one;
- an unknown ``kid`` causes at most one refetch per cooldown, so a flood of
  made-up key ids cannot become a flood of fetches;
- after a failed fetch the next one waits for the cooldown too, so an outage
  is not hammered and requests do not queue behind one timeout after another;
- one fetch at a time: a burst of requests on a cold cache causes one fetch;
- every way the JWKS can fail (unreachable, timing out, an HTTP error, garbage,
  no usable key) is one error, ``AuthError`` coded ``jwks_unavailable``, logged where
  it happens.

Only asymmetric keys meant for signatures are used: a symmetric (``oct``) JWK
is never turned into an HMAC secret.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from jwt import PyJWK, PyJWKClient, PyJWTError

from analytics.conf import conf
from analytics.exceptions import AuthError

logger = logging.getLogger(__name__)

#: What Supabase signs access tokens with: ES256 (preferred) and RS256.
SIGNING_ALGORITHMS = frozenset({"ES256", "RS256"})

USER_AGENT = "agency-call-analytics (PyJWT PyJWKClient)"
#: The code of every failure to read the keys: the server's fault, never the token's.
UNAVAILABLE = "jwks_unavailable"
#: Keys are trusted this long before the JWKS is read again: Supabase serves it with a
#: 10-minute cache, and a revoked key must not verify here for longer either.
CACHE_SECONDS = 600.0
#: How long one fetch may wait on the network: a request waits on it.
TIMEOUT_SECONDS = 5.0
#: The least time between an unknown ``kid`` (or a failed fetch) and the next fetch.
COOLDOWN_SECONDS = 30.0


class SigningKeys:
    """The signing keys of one JWKS, by ``kid``, with a bounded lifetime and bounded fetches."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            # Our own cache below: PyJWKClient only fetches and parses.
            self.client = PyJWKClient(
                url,
                cache_jwk_set=False,
                timeout=TIMEOUT_SECONDS,
                headers={"User-Agent": USER_AGENT},
            )
        except PyJWTError as exc:  # PyJWT refuses a non-http(s) address.
            logger.error("Cannot use the JWKS address %r: %s", url, exc)
            raise AuthError(code=UNAVAILABLE) from exc
        self._lock = threading.Lock()
        self._keys: Mapping[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failed_at: float | None = None

    def get(self, kid: str) -> PyJWK | None:
        """The key named ``kid``, or ``None`` when the JWKS does not hold it.

        Raises ``AuthError`` (``jwks_unavailable``) when the keys cannot be read.
        """
        with self._lock:
            now = time.time()
            fetched = not self._is_fresh(now)
            if fetched:
                self._keys = {}
                self._refresh(now)
            key = self._keys.get(kid)
            if key is None and not fetched and self._may_refetch(now):
                # Maybe rotated in since the last fetch.
                self._refresh(now)
                key = self._keys.get(kid)
            return key

    def _is_fresh(self, now: float) -> bool:
        return _within(self._fetched_at, now, CACHE_SECONDS)

    def _may_refetch(self, now: float) -> bool:
        return not _within(self._attempted_at, now, COOLDOWN_SECONDS)

    def _refresh(self, now: float) -> None:
        if _within(self._failed_at, now, COOLDOWN_SECONDS):
            raise AuthError(code=UNAVAILABLE)
        self._attempted_at = now
        try:
            keys = self._fetch()
        except Exception as exc:
            # Whatever the remote document or the network did, it is one fault
            # for the caller (a 503), logged once per attempt with its cause.
            self._failed_at = now
            logger.error(
                "Fetching the JWKS from %s failed: %s: %s",
                self.url,
                type(exc).__name__,
                exc,
            )
            raise AuthError(code=UNAVAILABLE) from exc
        self._keys = keys
        self._fetched_at = now
        self._failed_at = None

    def _fetch(self) -> dict[str, PyJWK]:
        keys: dict[str, PyJWK] = {}
        for key in self.client.get_jwk_set(refresh=True).keys:
            if (
                isinstance(key.key_id, str)
                and key.key_id
                and key.public_key_use in ("sig", None)
                and key.algorithm_name in SIGNING_ALGORITHMS
            ):
                keys.setdefault(key.key_id, key)
        if not keys:
            raise ValueError("The JWKS holds no usable ES256 or RS256 signing key.")
        return keys


def _within(since: float | None, now: float, seconds: float) -> bool:
    """Whether ``now`` is less than ``seconds`` after ``since``; never, before it."""
    return since is not None and 0 <= now - since < seconds


_store: SigningKeys | None = None
_store_lock = threading.Lock()


def signing_keys() -> SigningKeys | None:
    """The process's key store for the configured JWKS, or ``None`` when none is configured.

    Kept for the life of the process (never one per request) and replaced only
    when the JWKS address changes, as it does under ``override_settings``.
    """
    global _store
    url = conf.JWKS_URL
    if not url:
        return None
    with _store_lock:
        if _store is None or _store.url != url:
            _store = SigningKeys(url)
        return _store


def forget_signing_keys() -> None:
    """Drop this process's cached keys: the next token read fetches the JWKS afresh.

    For an emergency revocation that cannot wait for the cache lifetime, and for tests.
    """
    global _store
    with _store_lock:
        _store = None
