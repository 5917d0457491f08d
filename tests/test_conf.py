"""``analytics.conf``: the app's settings, what a host gets without them, and what they change.

Each setting's mistakes are ``tests/test_checks.py``'s; ``for_transaction_pooler`` is
proved on a real pooler in ``tests/system/test_pooler.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from analytics.conf import conf
from analytics.models import Call
from tests.helpers import HEATMAP_URL, MakeCall


def test_defaults() -> None:
    """The test settings set the legacy secret and nothing else of Supabase's."""
    assert conf.JWT_LEEWAY_SECONDS == 30
    assert conf.JWT_ISSUER is None
    assert conf.JWKS_URL is None
    assert conf.ALLOW_ANONYMOUS_USERS is False
    assert conf.REQUIRE_LIVE_SESSION is False
    assert conf.HEATMAP_DATABASE == "default"
    assert conf.HEATMAP_REPLICA_MAX_LAG == 30.0
    assert conf.HEATMAP_SOURCE == "auto"
    assert conf.ADMIN_TIME_ZONE is None
    assert conf.SERVER_TIMING is False


@pytest.mark.django_db(databases=["default", "replica"])
def test_the_heatmap_reads_from_the_configured_alias(
    auth_client: APIClient, make_call: MakeCall, agency_id: uuid.UUID, settings: Any
) -> None:
    """``ANALYTICS_HEATMAP_DATABASE``: a read replica answers, where there is one."""
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0
    noon = make_call().created_at  # one call on the primary
    for _ in range(3):  # three on the replica's database
        Call.objects.using("replica").create(
            id=uuid.uuid4(), agency_id=agency_id, status="ended", created_at=noon
        )
    assert (
        connections["replica"].settings_dict["NAME"] != connections["default"].settings_dict["NAME"]
    )
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1
    settings.ANALYTICS_HEATMAP_DATABASE = "replica"
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 3
