"""``python manage.py heatmap_rollup install | status | verify | fold | uninstall``.

The heatmap's 15-minute rollup, kept current by triggers on ``calls``
(:mod:`analytics.rollup`). Run it on the primary, as the owner of ``calls``, over
a direct connection or a pooler; read replicas then carry the rollup themselves.
"""

from __future__ import annotations

from typing import Any, NoReturn
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from analytics.exceptions import RollupError
from analytics.heatmap.vocabulary import parse_agency_id
from analytics.rollup.inspect import (
    Difference,
    RollupStatus,
    fold_pending,
    repair_rollup,
    rollup_differences,
    rollup_status,
)
from analytics.rollup.install import install, uninstall
from analytics.rollup.sql import VERSION
from analytics.rollup.state import REPAIR_COMMAND, drift_message

#: Differences printed before the rest are only counted.
SHOWN_DIFFERENCES = 20


class Command(BaseCommand):
    help = (
        "Install, inspect, verify or remove the heatmap's 15-minute rollup, which triggers "
        "on calls keep current, so the heatmap answers without scanning calls."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database alias whose calls table gets the rollup (default: default).",
        )
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        install_action = actions.add_parser(
            "install",
            help="Create the rollup and its triggers, backfill it online, mark it ready; on a "
            "rollup counting by an older time-zone map, rebuild it for the app's.",
        )
        status_action = actions.add_parser(
            "status", help="Installed, ready, rows, size and buckets; exit 0 only when ready."
        )
        verify = actions.add_parser(
            "verify",
            help="Compare every bucket with a fresh count of calls; exit 1 on any difference.",
        )
        verify.add_argument("--agency", metavar="UUID", help="Only this agency's buckets.")
        verify.add_argument("--repair", action="store_true", help="Mend what differs.")
        fold_action = actions.add_parser(
            "fold",
            help="Move the triggers' pending deltas into the rollup; run it every minute.",
        )
        uninstall_action = actions.add_parser(
            "uninstall", help="Drop the triggers, functions and rollup; the heatmap reads calls."
        )
        for each in (parser, install_action, status_action, verify, fold_action, uninstall_action):
            one_line_errors(each)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if using not in connections:
            raise CommandError(f"--database: {using!r} is not in DATABASES.")
        action = options["action"]
        try:
            if action == "install":
                self.install(using)
            elif action == "status":
                self.status(using)
            elif action == "verify":
                self.verify(using, self.parse_agency(options["agency"]), repair=options["repair"])
            elif action == "fold":
                moved = fold_pending(using=using)
                self.stdout.write(f"Folded {moved:,} pending deltas into the rollup.")
            else:
                self.uninstall(using)
        except RollupError as exc:
            raise CommandError(str(exc)) from exc

    def install(self, using: str) -> None:
        report = install(using=using, progress=self.stdout.write)
        if report.upgraded_from is not None:
            self.stdout.write(
                f"Upgraded in place from version {report.upgraded_from} to {VERSION}; "
                "its counts are kept."
            )
        if report.already_installed:
            if report.upgraded_from is None:
                self.stdout.write("The rollup is installed and ready; its functions are refreshed.")
            return
        if report.remapped:
            self.stdout.write(
                f"Rebuilt for the time-zone map of phonenumbers {report.map_version} (it "
                f"counted by {report.remapped_from or 'no map'}) in {report.seconds:.1f} s: "
                f"{report.rows_counted:,} ended calls counted into "
                f"{report.buckets_written:,} rollup rows; clock=lead reads it again."
            )
            self.stdout.write(
                f"Writers of calls waited at most {report.longest_block_ms:.0f} ms, "
                "while the new map was loaded."
            )
            return
        self.stdout.write(
            f"Installed and ready in {report.seconds:.1f} s: {report.rows_counted:,} ended calls "
            f"counted into {report.buckets_written:,} rollup rows."
        )
        if report.map_version is None:
            self.stdout.write(
                "The app's tables hold no time-zone map, so clock=lead reads calls: run "
                "python manage.py migrate analytics, then this install again."
            )
        self.stdout.write(
            f"Writers of calls waited at most {report.longest_block_ms:.0f} ms, "
            "while the triggers were created."
        )
        self.stdout.write(
            "Fold the triggers' deltas every minute or so: python manage.py heatmap_rollup "
            "fold, or SELECT analytics_heatmap.fold() from pg_cron (docs/rollup.md)."
        )

    def status(self, using: str) -> None:
        status = rollup_status(using=using)
        if not status.installed:
            self.stdout.write(f"Not installed on {using!r}: the heatmap reads calls directly.")
            raise CommandError("the rollup is not installed")
        ready = "ready" if status.ready else "NOT ready (the backfill has not finished)"
        self.stdout.write(f"Installed on {using!r}, version {status.version}, {ready}.")
        self.stdout.write(f"Triggers on calls: {', '.join(status.triggers) or 'none'}.")
        self.stdout.write(
            f"Rows: {status.agency_rows:,} agency buckets, {status.segment_rows:,} "
            f"campaign/client buckets, {status.lead_agency_rows:,} and "
            f"{status.lead_segment_rows:,} of them on the lead's clock, "
            f"{status.pending_rows:,} pending deltas; {status.rollup_bytes / 2**20:,.1f} MiB "
            f"(calls: {status.calls_bytes / 2**20:,.1f} MiB)."
        )
        self.stdout.write(map_line(status))
        if status.last_fold_at is not None:
            self.stdout.write(
                f"Last fold: {status.last_fold_at.isoformat()}, "
                f"{status.last_folded or 0:,} deltas moved."
            )
        elif status.current:
            self.stdout.write(
                "No fold has run yet: schedule python manage.py heatmap_rollup fold "
                "every minute or so (docs/rollup.md)."
            )
        if status.oldest_bucket is not None:
            self.stdout.write(
                f"Buckets from {status.oldest_bucket.isoformat()} "
                f"to {status.newest_bucket.isoformat() if status.newest_bucket else '?'}."
            )
        if not status.current:
            raise CommandError(
                "the rollup cannot answer yet: run python manage.py heatmap_rollup install"
            )
        if status.drift:
            self.stdout.write(drift_message(using, status.drift))
            raise CommandError(f"the rollup may be out of date: run {REPAIR_COMMAND}")

    def verify(self, using: str, agency_id: UUID | None, *, repair: bool) -> None:
        differences = rollup_differences(using=using, agency_id=agency_id, record_shape=repair)
        scope = "every agency" if agency_id is None else f"agency {agency_id}"
        if not differences:
            self.stdout.write(f"The rollup matches calls for {scope}.")
            return
        for difference in differences[:SHOWN_DIFFERENCES]:
            self.stdout.write(describe(difference))
        if len(differences) > SHOWN_DIFFERENCES:
            self.stdout.write(f"... and {len(differences) - SHOWN_DIFFERENCES:,} more.")
        if not repair:
            raise CommandError(
                f"{len(differences):,} rollup buckets differ from calls for {scope}; "
                "--repair mends them"
            )
        mended = repair_rollup(using=using, agency_id=agency_id)
        left = rollup_differences(using=using, agency_id=agency_id)
        if left:
            raise CommandError(f"{len(left):,} buckets still differ after the repair")
        self.stdout.write(f"Repaired {mended:,} buckets; the rollup now matches calls for {scope}.")

    def uninstall(self, using: str) -> None:
        if uninstall(using=using, progress=self.stdout.write):
            self.stdout.write("Uninstalled: the heatmap reads calls directly again.")
        else:
            self.stdout.write("Nothing to uninstall: the rollup is not installed.")

    def parse_agency(self, value: str | None) -> UUID | None:
        if value is None:
            return None
        try:
            return parse_agency_id(value)
        except ValueError as exc:
            raise CommandError(f"--agency: {exc}") from None


def one_line_errors(parser: CommandParser) -> None:
    """A bad option prints argparse's error line alone, not the usage above it."""

    def error(message: str) -> NoReturn:
        if parser.called_from_command_line:
            parser.exit(2, f"{parser.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}")

    parser.error = error  # type: ignore[method-assign]


def map_line(status: RollupStatus) -> str:
    """Which time-zone map the lead grains count by, against the app's, and what to do."""
    counted = f"phonenumbers {status.map_version}" if status.map_version else "no map"
    app = f"phonenumbers {status.app_map_version}" if status.app_map_version else "no map"
    if status.remapping:
        return (
            f"Time-zone map: being rebuilt for {counted} (the app's: {app}); clock=lead reads "
            "calls until the install running now finishes, or run "
            "python manage.py heatmap_rollup install again if none is."
        )
    if status.map_current:
        reads = "." if status.drift else "; clock=lead reads the rollup."
        return f"Time-zone map: {counted}, as the app's tables hold{reads}"
    if status.app_map_version is None:
        return (
            f"Time-zone map: the rollup counts by {counted}, and the app's tables hold none; "
            "clock=lead reads calls until you run python manage.py migrate analytics, then "
            "python manage.py heatmap_rollup install."
        )
    return (
        f"Time-zone map: the rollup counts by {counted}, the app's tables hold {app}; "
        "clock=lead reads calls until you run python manage.py heatmap_rollup install, "
        "which rebuilds the rollup for the app's map online."
    )


def describe(difference: Difference) -> str:
    """One line: where, and the rollup's counts against the fresh ones (total/connected/booked)."""
    where = f"agency {difference.agency_id}"
    if difference.grain in ("segment", "lead_segment"):
        where += f" campaign {difference.campaign_id} client {difference.client_id}"
    if difference.lead_group is not None:
        where += f" lead zone group {difference.lead_group}"
    rollup = "/".join(map(str, difference.rollup))
    fresh = "/".join(map(str, difference.fresh))
    return f"{where} at {difference.bucket.isoformat()}: rollup {rollup}, calls {fresh}"
