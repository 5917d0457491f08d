"""A Supabase-like JWKS served over real HTTP on 127.0.0.1, and the keys to mint tokens with.

The server runs ``http.server`` in a thread on a port the OS picks. Tests swap
the published key set at run time, make it answer garbage, an empty set, an
error or nothing at all (a hang), stop it and start it again on the same port.
It counts the requests it answers, so tests can bound the fetches.

Test modules load the fixtures with ``pytest_plugins = ["tests.jwks_server"]``
and import the helpers; having been imported first, this module is marked
PYTEST_DONT_REWRITE (it asserts nothing) so pytest does not warn about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import override_settings
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from analytics.jwks import forget_signing_keys

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
#: The project the tokens claim to come from; the JWKS itself is served locally.
PROJECT_URL = "https://abcdefghijklmnop.supabase.co"
ISSUER = f"{PROJECT_URL}/auth/v1"


@dataclass(frozen=True)
class SigningKey:
    """A private key as Supabase Auth holds it, and its public half as the JWKS shows it."""

    kid: str
    algorithm: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def es256(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or str(uuid.uuid4()), "ES256", ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rs256(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or str(uuid.uuid4()), "RS256", key)

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        # Supabase's JWKS entries carry these beside the key material.
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig", "key_ops": ["verify"]}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self,
        payload: Any,
        *,
        algorithm: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A token signed with this key; ``headers`` may override or (as ``None``) drop ``kid``.

        The payload may be any JSON value: PyJWS signs what PyJWT would refuse to.
        """
        header: dict[str, Any] = {"kid": self.kid, **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        return jwt.PyJWS().encode(
            json.dumps(payload, separators=(",", ":")).encode(),
            self.private_key,
            algorithm=algorithm or self.algorithm,
            headers=header,
        )


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims shaped like a Supabase access token of a signed-in user; ``None`` drops one."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "iat": int(now.timestamp()),
        "email": "someone@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256_token(header: Mapping[str, Any], payload: Any, secret: bytes | str) -> str:
    """An HS256 token signed by hand, for secrets PyJWT rightly refuses to sign with."""
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{b64url_json(dict(header))}.{b64url_json(payload)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@dataclass
class JWKSServer:
    """The JWKS endpoint of a Supabase project, on 127.0.0.1."""

    keys: list[SigningKey] = field(default_factory=list)
    #: ``None`` serves the key set; otherwise (status, body) to answer instead.
    answer: tuple[int, bytes] | None = None
    #: Seconds to hold every request before answering: longer than a timeout is a hang.
    delay: float = 0.0
    requests: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}{JWKS_PATH}"

    def publish(self, *keys: SigningKey) -> None:
        """Serve these keys from now on (and stop answering garbage)."""
        self.keys = list(keys)
        self.answer = None

    def answer_with(self, status: int, body: bytes | str) -> None:
        self.answer = (status, body.encode() if isinstance(body, str) else body)

    def document(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk for key in self.keys]}

    def start(self) -> None:
        """Listen (again) on ``port``, or on a free port the first time."""
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the port: fetches now fail with "connection refused"."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def hold(self) -> None:
        """Wait ``delay`` seconds before answering, or until the server stops."""
        if self.delay:
            self._stopping.wait(self.delay)


def _handler_for(jwks: JWKSServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            jwks.count()
            jwks.hold()
            if self.path != JWKS_PATH:
                status, body = 404, b'{"error":"not found"}'
            elif jwks.answer is not None:
                status, body = jwks.answer
            else:
                status, body = 200, json.dumps(jwks.document()).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # The client gave up (timed out) first.

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Keep test output for the tests.

    return Handler


@dataclass(frozen=True)
class Keys:
    """The project's keys: in use (ES256), a second algorithm (RS256), a standby (ES256)."""

    es256: SigningKey
    rs256: SigningKey
    standby: SigningKey


@pytest.fixture(scope="session")
def project_keys() -> Keys:
    # Generated once: RSA key generation is the slowest step of the suite.
    return Keys(SigningKey.es256(), SigningKey.rs256(), SigningKey.es256())


@pytest.fixture
def jwks_server(project_keys: Keys) -> Iterator[JWKSServer]:
    """A running JWKS endpoint publishing the three keys; stopped after the test."""
    server = JWKSServer()
    server.publish(project_keys.es256, project_keys.rs256, project_keys.standby)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def supabase_project(jwks_server: JWKSServer) -> Iterator[JWKSServer]:
    """Settings of a Supabase project whose JWKS is the local server; fresh key cache."""
    forget_signing_keys()
    with override_settings(SUPABASE_URL=PROJECT_URL, SUPABASE_JWKS_URL=jwks_server.jwks_url):
        yield jwks_server
    forget_signing_keys()
