"""The demo's API description is public and cheap (heatmap_project/api_docs.py).

``/api/schema/`` and ``/api/docs/`` once took DRF's Session and Basic authentication:
a wrong Basic password got a 403, the right one a 200, each guess a password hash.
Now they read no credential, answer every caller with the same schema, and generate
the schema once per process.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.test import Client, modify_settings, override_settings
from drf_spectacular.generators import SchemaGenerator

from tests.helpers import SCHEMA_FILE, run_demo

SCHEMA_URL = "/api/schema/"
DOCS_URL = "/api/docs/"
PASSWORD = "the-admins-real-password"


class CountingHasher(MD5PasswordHasher):
    """MD5, counting every hash it makes or checks."""

    algorithm = "counting_md5"
    calls: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.calls += 1
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        CountingHasher.calls += 1
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def demo_urls() -> Iterator[None]:
    """The demo's URLs, and what of the demo's settings they need that the app's tests lack."""
    with (
        modify_settings(INSTALLED_APPS={"append": ["drf_spectacular", "drf_spectacular_sidecar"]}),
        override_settings(
            ROOT_URLCONF="heatmap_project.urls",
            REST_FRAMEWORK={"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"},
            PASSWORD_HASHERS=[f"{__name__}.CountingHasher"],
        ),
    ):
        yield


@pytest.fixture
def admin(db: None) -> User:
    """A real superuser, whose password really is PASSWORD; no hash counted yet."""
    user = User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    assert authenticate(username="admin", password=PASSWORD) == user
    CountingHasher.calls = 0
    return user


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


#: Whatever arrives in ``Authorization``; a session cookie is tried beside these.
AUTHORIZATION = {
    "a wrong Basic password": basic("admin", "guess"),
    "an unknown user's Basic": basic("nobody", "guess"),
    "the superuser's right Basic password": basic("admin", PASSWORD),
    "a malformed Basic header": "Basic !!!not-base64",
    "a garbage Bearer token": "Bearer garbage",
}


def callers(admin: User) -> Iterator[tuple[str, Client]]:
    for name, header in AUTHORIZATION.items():
        yield name, Client(HTTP_AUTHORIZATION=header)
    signed_in = Client()
    signed_in.force_login(admin)
    yield "the superuser's session cookie", signed_in


def test_every_caller_gets_the_same_schema(admin: User) -> None:
    anonymous = Client().get(SCHEMA_URL)
    assert anonymous.status_code == 200
    assert anonymous["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    for name, client in callers(admin):
        response = client.get(SCHEMA_URL)
        assert response.status_code == 200, name
        assert response.content == anonymous.content, name
        # Nothing about the caller is read, so no cache need keep answers apart by cookie.
        assert "Cookie" not in response.get("Vary", ""), name


def test_every_caller_gets_the_same_docs_page_and_no_cookie(admin: User) -> None:
    """Byte for byte: the page carries no CSRF token, so it neither varies nor sets one."""
    anonymous = Client().get(DOCS_URL)
    assert anonymous.status_code == 200
    assert not anonymous.cookies
    for name, client in callers(admin):
        response = client.get(DOCS_URL)
        assert response.content == anonymous.content, name
        assert "csrftoken" not in response.cookies, name


def test_no_password_is_hashed_and_nothing_is_read(
    admin: User, django_assert_num_queries: Any
) -> None:
    for url in (SCHEMA_URL, f"{SCHEMA_URL}?format=json", DOCS_URL):
        for name, client in callers(admin):
            with django_assert_num_queries(0):  # no user, no session
                assert client.get(url).status_code == 200, (url, name)
    assert CountingHasher.calls == 0


FORMATS = (("yaml", {}), ("json", {"format": "json"}))


def test_the_schema_is_made_once_and_every_format_and_caller_gets_the_same_bytes(
    admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the first request has made it, the schema is never made again: with the
    generator broken from then on, every format still answers every caller, byte for byte."""
    with override_settings(ROOT_URLCONF="heatmap_project.urls"):  # a process's first schema
        first = Client().get(SCHEMA_URL)
        assert first.status_code == 200

        def generate_again(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the schema was generated again")

        monkeypatch.setattr(SchemaGenerator, "get_schema", generate_again)
        bodies: dict[str, set[bytes]] = {name: set() for name, _ in FORMATS}
        for client in [Client(), *(client for _, client in callers(admin))]:
            for name, query in FORMATS:
                response = client.get(SCHEMA_URL, query)
                assert response.status_code == 200, (name, response.content[:200])
                bodies[name].add(response.content)
        accepted = Client().get(SCHEMA_URL, HTTP_ACCEPT="application/vnd.oai.openapi+json")

    [yaml_body], [json_body] = bodies["yaml"], bodies["json"]
    assert yaml_body == first.content
    assert accepted.content == json_body
    assert json.loads(json_body) == yaml.safe_load(yaml_body)


@pytest.mark.django_db
def test_the_docs_page_is_public_and_offers_the_bearer_scheme() -> None:
    client = Client(HTTP_AUTHORIZATION=basic("admin", "guess"))
    docs = client.get(DOCS_URL)
    assert docs.status_code == 200
    assert docs["Content-Type"] == "text/html; charset=utf-8"
    html = docs.content.decode()
    assert 'url: "/api/schema/"' in html
    # Swagger UI sends no credentials for the schema; Authorize is for the endpoint.
    assert "const schemaAuthNames = [];" in html
    schema = yaml.safe_load(client.get(SCHEMA_URL).content)
    scheme = schema["components"]["securitySchemes"]["SupabaseAccessToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


DEMO_PROBE = """
import base64, json, django
django.setup()
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

hashes = []
for name in ("encode", "verify"):
    original = getattr(PBKDF2PasswordHasher, name)
    def counted(self, *args, _original=original):
        hashes.append(1)
        return _original(self, *args)
    setattr(PBKDF2PasswordHasher, name, counted)

guess = "Basic " + base64.b64encode(b"admin:guess").decode()
bodies, statuses = [], []
for headers in ({}, {"HTTP_AUTHORIZATION": guess}, {"HTTP_AUTHORIZATION": "Bearer garbage"}):
    response = Client(HTTP_HOST="localhost", **headers).get("/api/schema/")
    statuses.append(response.status_code)
    bodies.append(response.content.decode())
docs = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=guess).get("/api/docs/")
statuses.append(docs.status_code)
sidecar = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
print(json.dumps({
    "statuses": statuses,
    "bodies": bodies,
    "hashes": len(hashes),
    "sidecar": sidecar in docs.content.decode(),
}))
"""


def test_the_demo_serves_openapi_yaml_itself_to_anyone(tmp_path: Path) -> None:
    """The demo's own settings: PBKDF2, and a database without tables, which it never reads."""
    stdout = run_demo("-c", DEMO_PROBE, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    probe = json.loads(stdout)
    assert probe["statuses"] == [200, 200, 200, 200]  # the schema thrice, then Swagger UI
    assert probe["bodies"] == [SCHEMA_FILE.read_text()] * 3
    assert probe["hashes"] == 0
    assert probe["sidecar"]  # the demo's SPECTACULAR_SETTINGS: no CDN
