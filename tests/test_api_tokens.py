import re

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import hash_token

pytestmark = pytest.mark.django_db


def create_token(client, name="render farm"):
    page = client.post(reverse("accounts:tokens"), {"name": name}, follow=True).content.decode()
    return re.search(r'class="secret">|value="(hg_[^"]+)"', page) and re.search(r'value="(hg_[^"]+)"', page).group(1)


def test_a_created_token_is_shown_once_and_stored_only_as_a_hash(client_for, personas):
    client = client_for(personas.member)
    raw = create_token(client)
    assert raw and raw.startswith("hg_")
    token = ApiToken.objects.get(user=personas.member)
    assert token.key_hash == hash_token(raw) and raw not in (token.key_hash, token.prefix)
    assert raw not in client.get(reverse("accounts:tokens")).content.decode()


def test_a_token_authenticates_the_api(client_for, personas, client):
    raw = create_token(client_for(personas.member))
    client.logout()
    response = client.get(reverse("api-me"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json() == {"username": "mei", "teams": [{"id": personas.team.pk, "name": "Presenters",
                                                             "role": "member"}]}
    assert ApiToken.objects.get(user=personas.member).last_used_at is not None


def test_the_api_refuses_requests_without_valid_credentials(client):
    assert client.get(reverse("api-me")).status_code in (401, 403)
    response = client.get(reverse("api-me"), HTTP_AUTHORIZATION="Bearer hg_not-a-real-token")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "authentication_failed", "message": "Invalid or revoked token."}}


def test_a_revoked_token_stops_working(client_for, personas, client):
    owner_client = client_for(personas.member)
    raw = create_token(owner_client)
    token = ApiToken.objects.get(user=personas.member)
    owner_client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    client.logout()
    assert client.get(reverse("api-me"), HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_nobody_revokes_another_users_token(client_for, personas):
    create_token(client_for(personas.member))
    token = ApiToken.objects.get(user=personas.member)
    client = client_for(personas.owner)
    page = client.post(reverse("accounts:revoke_token", args=[token.pk]), follow=True).content.decode()
    assert "No such token." in page
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert "render farm" not in client.get(reverse("accounts:tokens")).content.decode()
