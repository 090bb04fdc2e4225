import pytest
from django.urls import reverse

from accounts.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_a_user_in_two_teams_switches_between_them(client_for, personas):
    Membership.objects.create(team=personas.other_team, user=personas.member, role=Role.MEMBER)
    client = client_for(personas.member)
    assert "Presenters" in client.get(reverse("team-home")).content.decode()
    response = client.post(reverse("accounts:switch_team"), {"team_id": personas.other_team.pk}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Switched to Competitors" in page
    assert "<h2>Competitors</h2>" in page


def test_switching_to_a_team_the_user_is_not_in_gives_404(client_for, personas):
    client = client_for(personas.member)
    response = client.post(reverse("accounts:switch_team"), {"team_id": personas.other_team.pk})
    assert response.status_code == 404
    assert "<h2>Presenters</h2>" in client.get(reverse("team-home")).content.decode()


def test_switching_ignores_a_redirect_to_another_site(client_for, personas):
    client = client_for(personas.member)
    response = client.post(reverse("accounts:switch_team"),
                           {"team_id": personas.team.pk, "next": "//evil.example.com/"})
    assert response.url == reverse("home")


def test_a_removed_membership_falls_back_to_a_remaining_team(client_for, personas):
    Membership.objects.create(team=personas.other_team, user=personas.member, role=Role.MEMBER)
    client = client_for(personas.member)
    client.post(reverse("accounts:switch_team"), {"team_id": personas.other_team.pk})
    Membership.objects.filter(team=personas.other_team, user=personas.member).delete()
    assert "<h2>Presenters</h2>" in client.get(reverse("team-home")).content.decode()
