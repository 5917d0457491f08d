"""The users list: read-only, searched by agency."""

from __future__ import annotations

import pytest
from django.test import Client

from analytics.models import User
from tests.helpers import USERS_PAGE

pytestmark = pytest.mark.django_db


def test_the_user_list_searches_by_agency(staff: Client, user: User) -> None:
    response = staff.get(USERS_PAGE, {"q": str(user.agency_id)})
    assert response.status_code == 200
    assert [row.id for row in response.context["cl"].result_list] == [user.id]
    assert staff.get(USERS_PAGE, {"q": "nope"}).context["cl"].result_list.count() == 0
