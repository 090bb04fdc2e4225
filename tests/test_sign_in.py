import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_member_signs_in_and_lands_on_home(client, personas):
    response = client.post(reverse("accounts:login"), {"username": "mei", "password": PASSWORD}, follow=True)
    assert response.wsgi_request.user == personas.member
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Presenters" in response.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client, personas):
    response = client.post(reverse("accounts:login"), {"username": "mei", "password": "nope"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert "Please enter a correct username and password" in response.content.decode()


def test_pages_need_a_signed_in_user(client):
    response = client.get(reverse("team-home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_sign_in_is_locked_after_repeated_failures(client, personas, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "mei", "password": "wrong"})
    # Even the right password is refused while the lockout lasts.
    response = client.post(reverse("accounts:login"), {"username": "mei", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_a_lockout_of_one_user_does_not_block_another(client, personas, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "mei", "password": "wrong"})
    response = client.post(reverse("accounts:login"), {"username": "adam", "password": PASSWORD})
    assert response.status_code == 302
    assert response.wsgi_request.user == personas.admin


def test_sign_out_ends_the_session(client_for, personas):
    client = client_for(personas.member)
    assert client.get(reverse("team-home")).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("team-home")).status_code == 302


def test_changing_the_password_applies_the_validators(client_for, personas):
    client = client_for(personas.member)
    url = reverse("accounts:password_change")
    weak = client.post(url, {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200
    assert "This password is too common" in weak.content.decode()
    strong = "a much better passphrase 42"
    ok = client.post(url, {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong})
    assert ok.status_code == 302
    personas.member.refresh_from_db()
    assert personas.member.check_password(strong)
