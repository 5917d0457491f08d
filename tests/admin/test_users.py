"""The users list: read-only, searched by agency."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from analytics.models import User
from tests.helpers import HEATMAP_PAGE, USERS_PAGE

pytestmark = pytest.mark.django_db


def test_the_user_list_searches_by_agency(staff: Client, user: User) -> None:
    response = staff.get(USERS_PAGE, {"q": str(user.agency_id)})
    assert response.status_code == 200
    assert [row.id for row in response.context["cl"].result_list] == [user.id]
    assert staff.get(USERS_PAGE, {"q": "nope"}).context["cl"].result_list.count() == 0


def test_the_user_list_shows_email_and_name_and_links_the_agency_heatmap(
    staff: Client, agency_id: uuid.UUID
) -> None:
    user = User.objects.create(
        id=uuid.uuid4(), agency_id=agency_id, email="ada@example.com", full_name="Ada Lovelace"
    )
    User.objects.create(id=uuid.uuid4(), agency_id=None)
    html = staff.get(USERS_PAGE).content.decode()
    assert '<td class="field-email">ada@example.com</td>' in html
    assert '<td class="field-full_name">Ada Lovelace</td>' in html
    page = f'href="{HEATMAP_PAGE}?agency={agency_id}"'
    assert re.search(rf'<td class="field-agency">.*{re.escape(page)}.*</td>', html)
    detail = staff.get(f"{USERS_PAGE}{user.id}/change/").content.decode()
    assert "ada@example.com" in detail
    assert re.search(rf"<a {re.escape(page)}[^>]*>{agency_id}</a>", detail)
