"""Demo host project: the reusable ``analytics`` app mounted in an ordinary Django backend.

Every setting that differs between machines comes from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from corsheaders.defaults import default_headers

import analytics
from analytics.conf import for_transaction_pooler

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The fallback only serves local demo runs; a deployment sets DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-insecure-heatmap-demo-only"
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "analytics",
    "heatmap_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before CommonMiddleware, so a preflight is answered before anything else looks at it.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "heatmap_project.urls"
WSGI_APPLICATION = "heatmap_project.wsgi.application"
ASGI_APPLICATION = "heatmap_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# DATABASE_URL: the Supabase PostgreSQL database (postgres://...); unset, a local SQLite file.
# Connections are kept for a minute and checked before reuse: after the database restarts,
# the first request on a dead connection reconnects instead of failing
# (tests/system/test_faults.py).
DATABASES: dict[str, Any] = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
#: SQLite is the demo's embedded database (no DATABASE_URL, or a sqlite:// one), never a
#: deployment's: the app reads Supabase's PostgreSQL. On it alone the demo's defaults
#: apply, so every `manage.py` command runs without variables: DEBUG on (runserver then
#: serves the static files) and the demo's JWT secret below.
DEMO = DATABASES["default"].get("ENGINE") == "django.db.backends.sqlite3"
DEBUG = env_bool("DJANGO_DEBUG", default=DEMO)

# DATABASE_REPLICA_URL: a read replica (Supabase read replicas give one); the heatmap reads there.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=60, conn_health_checks=True
    )
    ANALYTICS_HEATMAP_DATABASE = "replica"

# DATABASE_POOL_MODE=transaction: the URLs are a transaction-mode pooler (Supabase's
# Supavisor on port 6543): no server-side cursors, no prepared statements
# (docs/deploying-on-supabase.md). Session mode (port 5432) and direct connections need nothing.
_TRANSACTION_POOLING = os.environ.get("DATABASE_POOL_MODE", "").strip().lower() == "transaction"
for _alias, _database in list(DATABASES.items()):
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server fails a request in seconds instead of holding a worker
        # until the TCP stack gives up; a ?connect_timeout= in the URL wins.
        _database.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        if _TRANSACTION_POOLING:
            DATABASES[_alias] = for_transaction_pooler(_database)

# REDIS_URL: one cache shared by every app server; unset, each process keeps its own.
# Short socket timeouts: a Redis that is down costs a request milliseconds, not seconds.
# Values are stored as JSON, not pickles: whoever can write to Redis cannot run code here.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "OPTIONS": {
            "socket_connect_timeout": 0.25,
            "socket_timeout": 0.25,
            "serializer": "analytics.api.caching.JSONSerializer",
        },
    }
    if os.environ.get("REDIS_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# HEATMAP_CACHE_TTL: seconds an answer is reused (and max-age); 0 disables caching.
ANALYTICS_HEATMAP_CACHE_TTL = int(os.environ.get("HEATMAP_CACHE_TTL", "60"))
# HEATMAP_THROTTLE_RATE: requests per user, as "120/min" (the default), "5/s", "1000/hour";
# set but empty, no throttling. Counted in the cache above, so share Redis across servers.
ANALYTICS_HEATMAP_THROTTLE_RATE = os.environ.get("HEATMAP_THROTTLE_RATE", "120/min")
# HEATMAP_AGENCY_THROTTLE_RATE: requests all the users of one agency may make together
# ("600/min", the default); set but empty, no such limit.
ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = os.environ.get("HEATMAP_AGENCY_THROTTLE_RATE", "600/min")
# HEATMAP_MAX_CONCURRENT_SCANS: scans of one agency's calls at once (2, the default); set
# but empty, no cap.
if "HEATMAP_MAX_CONCURRENT_SCANS" in os.environ:
    _scans = os.environ["HEATMAP_MAX_CONCURRENT_SCANS"].strip()
    ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = int(_scans) if _scans else None
# auto (the rollup once `manage.py heatmap_rollup install` made it ready), raw or rollup.
ANALYTICS_HEATMAP_SOURCE = os.environ.get("HEATMAP_SOURCE", "auto")
# HEATMAP_STATEMENT_TIMEOUT: seconds the calls query may run before it is cancelled (a 500).
if os.environ.get("HEATMAP_STATEMENT_TIMEOUT"):
    ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = float(os.environ["HEATMAP_STATEMENT_TIMEOUT"])
# METRICS_ENABLED: serve Prometheus' metrics at /metrics (docs/operating.md); needs
# prometheus_client, the app's `prometheus` extra. Off unless set: keep /metrics for the
# scraper, off the public internet.
METRICS_ENABLED = env_bool("METRICS_ENABLED")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The demo page names its assets under /static/ (clients/typescript/page/build.mjs).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# The Supabase project (see docs/authentication.md). SUPABASE_URL alone
# verifies the asymmetric (ES256/RS256) access tokens of today's projects through the
# project's JWKS; SUPABASE_JWKS_URL overrides where that is read from. The legacy JWT
# secret (Project Settings > API > JWT Settings) enables HS256 tokens; the demo uses it.
SUPABASE_URL = os.environ.get("SUPABASE_URL", "")
SUPABASE_JWKS_URL = os.environ.get("SUPABASE_JWKS_URL", "")
#: Demo only: what the demo signs and verifies its access tokens with, public on purpose.
#: A real DATABASE_URL never gets it: there analytics.E001 demands the project's own.
DEMO_JWT_SECRET = "demo-only-jwt-secret-not-for-production-use"
SUPABASE_JWT_SECRET = os.environ.get("SUPABASE_JWT_SECRET", DEMO_JWT_SECRET if DEMO else "")

# CORS for the SPA on its own origin: docs/install.md's block, as it is, with one variable.
# CORS_ALLOWED_ORIGINS: where the SPA is served from, comma-separated
# ("https://app.example.com,http://localhost:5173"); unset, no other origin may call the API.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
# Only the API answers cross-origin requests; the admin never does.
CORS_URLS_REGEX = r"^/api/.*$"
# The ETag to revalidate with, a CSV download's file name, when to retry after a 429 or 503.
CORS_EXPOSE_HEADERS = ["ETag", "Content-Disposition", "Retry-After"]
# The token, and the ETag sent back: If-None-Match (a 304) and If-Match (a 412).
CORS_ALLOW_HEADERS = (*default_headers, "if-none-match", "if-match")
# The API only reads: a preflight for another method is refused by the browser.
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
# A day: browsers keep a preflight at most 2 hours (Chromium) or 24 hours (Firefox).
CORS_PREFLIGHT_MAX_AGE = 86400

# The OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/, whose files come from
# drf-spectacular-sidecar (collected as static files), not from a CDN. openapi.yaml at the
# top of the repository is this schema: `python manage.py spectacular --skip-checks --file
# openapi.yaml` writes it again.
# drf-spectacular's install step; the heatmap view documents itself either way.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "Call analytics API",
    "DESCRIPTION": (
        "When should an agency call? The agency's ended calls by day of week and hour, "
        "and the best times to call. Authenticate with the signed-in user's Supabase "
        "access token as `Authorization: Bearer <token>`."
    ),
    "VERSION": analytics.__version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The enums speak for themselves; each parameter's description says what they mean.
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
}

# To stderr: the app's own messages, and Django's errors (a 500's traceback from
# django.request, a refused host or a bad CSRF token from django.security), which
# Django sends nowhere when DEBUG is off but to ADMINS by mail.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "analytics": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
