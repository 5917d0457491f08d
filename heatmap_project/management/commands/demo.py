"""``python manage.py demo``: tables, a synthetic agency, a user and a token to try the API."""

from __future__ import annotations

import re
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

#: ``--lifetime``'s units. The shortest is a minute; the longest, a week, is the longest
#: the app accepts (it refuses tokens Supabase could not have issued).
LIFETIME_UNITS = {"m": 60, "h": 3600, "d": 86400}
LIFETIME = re.compile(rf"(\d+)([{''.join(LIFETIME_UNITS)}])")
#: ``--lifetime expired``: a token that expired a minute ago, after an hour's life, so the
#: API answers 401 ``token_expired`` (past the app's leeway of seconds).
EXPIRED = "expired"
EXPIRED_AGO = timedelta(minutes=1)


def parse_lifetime(value: str) -> timedelta:
    """How long from now the token lives: ``15m``, ``2h``, ``7d``; negative for ``expired``."""
    if value == EXPIRED:
        return -EXPIRED_AGO
    match = LIFETIME.fullmatch(value)
    seconds = int(match[1]) * LIFETIME_UNITS[match[2]] if match else 0
    if not 60 <= seconds <= MAX_LIFETIME_SECONDS:
        longest = MAX_LIFETIME_SECONDS // LIFETIME_UNITS["d"]
        raise CommandError(
            f"--lifetime must be 1m to {longest}d (as 15m, 2h or 7d) or {EXPIRED}, not {value!r}."
        )
    return timedelta(seconds=seconds)


class Command(BaseCommand):
    help = "Create the demo tables and agency on SQLite and print an access token to call the API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=12_000, help="Demo agency calls.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--lifetime",
            default="24h",
            help=f"Lifetime of the printed token: 15m, 2h, 7d (a week at most) or {EXPIRED}.",
        )
        parser.add_argument(
            "--token-only",
            action="store_true",
            help="Print only a token: no tables, no seeding.",
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
        lifetime = parse_lifetime(options["lifetime"])
        token = mint_token(secret, lifetime=lifetime)
        if options["token_only"]:
            self.stdout.write(token)
            return
        if not reference_tables_exist():
            create_reference_tables()
        count = seed_demo_data(calls=options["calls"])
        base_url = options["base_url"].rstrip("/")
        # On the lead's clock: the demo's leads are in ten zones, which is what it is for.
        url = f"{base_url}/api/dashboard-heatmap?period=30d&metric=connected&clock=lead"
        lives = "expired" if lifetime < timedelta(0) else f"lives {options['lifetime']}"
        self.stdout.write(f"Seeded {count} calls; demo agency {DEMO_AGENCY_ID}.")
        self.stdout.write(f"Demo user {DEMO_USER_ID}; access token (HS256, {lives}):")
        self.stdout.write(token)
        # The token in the fragment: browsers never send it to a server or a log.
        self.stdout.write(f"Open the page: {base_url}/#token={token}")
        self.stdout.write("Or try:")
        self.stdout.write(
            f"curl -s -H {shlex.quote('Authorization: Bearer ' + token)} {shlex.quote(url)}"
        )


def mint_token(secret: str, *, lifetime: timedelta) -> str:
    """A token shaped like the access tokens Supabase Auth issues to signed-in users,
    expiring ``lifetime`` from now (an expired one was issued an hour before it expired)."""
    now = datetime.now(UTC)
    expires = now + lifetime
    issued = now if lifetime > timedelta(0) else expires - timedelta(hours=1)
    claims = {
        "sub": str(DEMO_USER_ID),
        "aud": AUDIENCE,
        "role": "authenticated",
        "email": "demo@example.com",
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if conf.JWT_ISSUER:  # checked once SUPABASE_URL is set
        claims["iss"] = conf.JWT_ISSUER
    return jwt.encode(claims, secret, algorithm="HS256")
