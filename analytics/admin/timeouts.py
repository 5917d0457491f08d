"""Admin pages read ``calls`` under a statement timeout of :data:`STATEMENT_TIMEOUT`.

Even a list that only offers cheap lookups can meet a slow read: a campaign or client
UUID has no index, and while another session holds a lock on the table every read
waits. On PostgreSQL a page therefore runs, its template included (querysets are
read while it renders), in a transaction whose statements stop after the setting's
seconds (:func:`admin_statement_timeout`). A page that ran out of time answers with
:func:`unavailable_page`, a 503 in the admin's own look, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.contrib import admin
from django.db import OperationalError, router
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse, TemplateResponse
from django.urls import reverse

from analytics.db import settings_for_transaction, sqlstate

logger = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATE for a statement cancelled by ``statement_timeout``.
QUERY_CANCELED = "57014"

#: Seconds an admin page's reads of ``calls`` may run on PostgreSQL: a page waits on
#: them, and a list narrowed by a date or a search reads in milliseconds.
STATEMENT_TIMEOUT = 5.0

#: The 503 page; a host may override it like any admin template.
UNAVAILABLE_TEMPLATE = "analytics/admin/not_read_in_time.html"


def admin_settings() -> dict[str, str]:
    """What an admin page's transaction runs under on PostgreSQL."""
    timeout_ms = max(1, round(STATEMENT_TIMEOUT * 1000))
    return {"statement_timeout": f"{timeout_ms}ms"}


def admin_statement_timeout(using: str) -> AbstractContextManager[None]:
    """Run the block in a transaction under :func:`admin_settings` (PostgreSQL only).

    Lock waits count toward ``statement_timeout``, so a locked table stops the read
    too. Inside a caller's transaction (``ATOMIC_REQUESTS``, a test) the previous
    value is put back afterwards (:func:`analytics.db.settings_for_transaction`).
    """
    return settings_for_transaction(using, admin_settings())


def timed_out(exc: OperationalError) -> bool:
    """The statement was cancelled by ``statement_timeout``."""
    return sqlstate(exc) == QUERY_CANCELED


def respond_in_time(
    request: HttpRequest,
    model_admin: admin.ModelAdmin[Any],
    view: Callable[[], HttpResponse],
    *,
    timed_out_message: str,
) -> HttpResponse:
    """``view()``'s response, rendered under :func:`admin_statement_timeout`.

    A read stopped by the timeout answers :func:`unavailable_page` with
    ``timed_out_message``, and so does any other ``OperationalError`` (the database
    went away), logged with its traceback. Other database errors are bugs and
    propagate: every value a list offers is checked before it reaches SQL.
    """
    opts = model_admin.opts
    try:
        with admin_statement_timeout(router.db_for_read(model_admin.model)):
            response = view()
            if isinstance(response, SimpleTemplateResponse):
                response.render()
            return response
    except OperationalError as exc:
        if timed_out(exc):
            logger.warning(
                "%s stopped after the admin statement timeout (%g s)",
                request.path,
                STATEMENT_TIMEOUT,
            )
            message = timed_out_message
        else:
            logger.exception("%s could not read the database", request.path)
            message = (
                f"The {opts.verbose_name_plural} could not be read from the database;"
                " the error is logged. Try again in a moment."
            )
        return unavailable_page(request, model_admin, message)


def unavailable_page(
    request: HttpRequest, model_admin: admin.ModelAdmin[Any], message: str
) -> TemplateResponse:
    """A 503 in the admin's look: what could not be read, and the way back to the list.

    503, not 500: nothing is broken and nothing in the request is malformed; the
    database did not answer in time, and the same page may answer a moment later
    or once narrowed. The page reads nothing from the table that failed.
    """
    opts = model_admin.opts
    site = model_admin.admin_site
    context = {
        **site.each_context(request),
        "title": "Not read in time",
        "opts": opts,
        "message": message,
        "index_url": reverse(f"{site.name}:index"),
        "app_url": reverse(f"{site.name}:app_list", args=[opts.app_label]),
        "list_url": reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, UNAVAILABLE_TEMPLATE, context, status=503)
