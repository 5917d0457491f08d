"""``python manage.py demo``: tables, a synthetic agency, a user and a token to try the API."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from analytics.auth.tokens import AUDIENCE, MAX_LIFETIME_SECONDS
from analytics.conf import conf
from analytics.models import create_reference_tables, reference_tables_exist
from heatmap_project.demo_data import DEMO_AGENCY_ID, DEMO_USER_ID, seed_demo_data


class Command(BaseCommand):
    help = "Create the demo tables and agency on SQLite and print an access token to call the API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=12_000, help="Demo agency calls.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--token-hours", type=int, default=24, help="Lifetime of the printed token."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "sqlite":
            # The real users/calls tables belong to the Supabase application.
            raise CommandError(
                "The demo writes users and calls rows, so it runs only on the local SQLite "
                "database. Unset DATABASE_URL to use it."
            )
        secret = conf.SUPABASE_JWT_SECRET
        if not secret:
            raise CommandError("Set SUPABASE_JWT_SECRET so the demo can sign an access token.")
        longest = MAX_LIFETIME_SECONDS // 3600
        if not 1 <= options["token_hours"] <= longest:
            # The app refuses a token that lives longer than Supabase ever issues one for.
            raise CommandError(f"--token-hours must be 1 to {longest} (a week at most).")
        if not reference_tables_exist():
            create_reference_tables()
        count = seed_demo_data(calls=options["calls"])
        token = self.mint_token(secret, hours=options["token_hours"])
        # On the lead's clock: the demo's leads are in ten zones, which is what it is for.
        query = "period=30d&metric=connected&clock=lead"
        url = f"{options['base_url'].rstrip('/')}/api/dashboard-heatmap?{query}"
        self.stdout.write(f"Seeded {count} calls; demo agency {DEMO_AGENCY_ID}.")
        self.stdout.write(
            f"Demo user {DEMO_USER_ID}; access token (HS256, {options['token_hours']} h):"
        )
        self.stdout.write(token)
        self.stdout.write("Try:")
        self.stdout.write(
            f"curl -s -H {shlex.quote('Authorization: Bearer ' + token)} {shlex.quote(url)}"
        )

    def mint_token(self, secret: str, *, hours: int) -> str:
        """A token shaped like the access tokens Supabase Auth issues to signed-in users."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(DEMO_USER_ID),
            "aud": AUDIENCE,
            "role": "authenticated",
            "email": "demo@example.com",
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=hours)).timestamp()),
        }
        if conf.JWT_ISSUER:  # checked once SUPABASE_URL is set
            claims["iss"] = conf.JWT_ISSUER
        return jwt.encode(claims, secret, algorithm="HS256")
