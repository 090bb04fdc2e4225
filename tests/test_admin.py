import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["user", "team", "membership", "quota", "apitoken"])
def test_staff_manage_accounts_in_the_admin(client, personas, admin_user, model):
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200


def test_a_teams_admin_page_shows_its_quota_and_members(client, personas, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:accounts_team_change", args=[personas.team.pk])).content.decode()
    assert "olivia" in page and "Concurrent jobs" in page


def test_non_staff_cannot_open_the_admin(client_for, personas):
    response = client_for(personas.owner).get(reverse("admin:accounts_team_changelist"))
    assert response.status_code == 302


def test_ensure_admin_creates_the_first_admin_once(db, monkeypatch, capsys):
    from django.core.management import call_command
    from accounts.models import Membership, User

    monkeypatch.delenv("HEYGEM_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    first = capsys.readouterr().out
    assert "Sign in as 'admin' with the password" in first
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and Membership.objects.get(user=admin).role == "owner"
    call_command("ensure_admin")
    assert capsys.readouterr().out == ""
    assert User.objects.filter(is_superuser=True).count() == 1
