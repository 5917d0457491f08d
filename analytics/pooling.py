"""A ``DATABASES`` entry made safe behind a transaction-mode pooler (Supavisor on port 6543).

In transaction mode each transaction may run on another server connection, so nothing
may outlive a transaction: not a server-side cursor (Django's ``.iterator()`` opens one
``WITH HOLD``), not a prepared statement (psycopg 3 prepares a query it has run five
times). The app's own settings are ``SET LOCAL`` for the same reason (``analytics.db``).

No Django import here: a host's ``settings.py`` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any


def for_transaction_pooler(database: Mapping[str, Any]) -> dict[str, Any]:
    """``database`` with server-side cursors and prepared statements turned off.

    Django uses psycopg 3 whenever it is importable, so ``prepare_threshold`` is
    set only then: psycopg2 never prepares, and libpq would refuse the option.
    """
    options = dict(database.get("OPTIONS") or {})
    if find_spec("psycopg") is not None:
        options["prepare_threshold"] = None
    return {**database, "DISABLE_SERVER_SIDE_CURSORS": True, "OPTIONS": options}
