"""Settings for the app's own test suite, apart from the demo project.

``DATABASE_URL`` selects the database (tox.ini's PostgreSQL environments set it);
unset or empty, an in-memory SQLite database. ``DATABASE_POOL_MODE=transaction`` says
the URL is a transaction-mode pooler (PgBouncer standing in for Supavisor).
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url
from corsheaders.defaults import default_headers

from analytics.conf import for_transaction_pooler

SECRET_KEY = "analytics-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    # The admin and what it needs: the app's read-only admin and heatmap page are tested too.
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "analytics",
]
MIDDLEWARE = [
    # As the demo project has it (tests/api/test_views.py): an SPA on another origin calls the API.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
# docs/install.md's block, as the demo has it.
CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["ETag", "Content-Disposition", "Retry-After"]
CORS_ALLOW_HEADERS = (*default_headers, "if-none-match", "if-match")
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_PREFLIGHT_MAX_AGE = 86400
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
STATIC_URL = "static/"
# Signing in a test user need not cost a real password hash.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_default: dict[str, Any] = dict(
    dj_database_url.parse(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
)
if os.environ.get("DATABASE_POOL_MODE") == "transaction":
    _default = for_transaction_pooler(_default)
DATABASES = {
    "default": _default,
    # A second database on the same server: the read-replica tests prove which one answered.
    "replica": {
        **_default,
        "NAME": _default["NAME"]
        if _default["NAME"] == ":memory:"
        else f"{_default['NAME']}_replica",
    },
}
# tox's standby environment (scripts/standby run): the replica is a streaming hot standby of
# the default database's server. The test database, created on the primary, reaches it by
# replication: Django makes none there (MIRROR) and reads the same database name.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = {
        **dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"]),
        "TEST": {"MIRROR": "default"},
    }
# The cache tests switch to the real Redis server; everything else sees no cache at all.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
ANALYTICS_HEATMAP_CACHE_TTL = 0
# Far above what any test asks of one user; tests/api/test_throttling.py lowers it.
ANALYTICS_HEATMAP_THROTTLE_RATE = "100000/min"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SUPABASE_JWT_SECRET = "test-jwt-secret-that-is-at-least-32-characters-long"
