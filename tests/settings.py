"""Settings for the app's own test suite, apart from the demo project.

``DATABASE_URL`` selects the database (PostgreSQL in CI's second run);
unset, an in-memory SQLite database.
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "analytics-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "analytics",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "tests.urls"

DATABASES = {
    "default": dj_database_url.parse(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SUPABASE_JWT_SECRET = "test-jwt-secret-that-is-at-least-32-characters-long"
