import re

import pytest
from django.urls import reverse

from accounts.models import Membership, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def members_url(personas):
    return reverse("accounts:members", args=[personas.team.pk])


def add(client, personas, username, role=Role.MEMBER):
    return client.post(reverse("accounts:add_member", args=[personas.team.pk]),
                       {"username": username, "email": "", "role": role}, follow=True)


@pytest.mark.parametrize("who", ["owner", "admin", "member"])
def test_every_member_sees_the_member_list(client_for, personas, who):
    response = client_for(getattr(personas, who)).get(members_url(personas))
    assert response.status_code == 200
    page = response.content.decode()
    assert all(name in page for name in ("olivia", "adam", "mei"))
    assert "oscar" not in page


def test_an_outsider_gets_404_for_another_teams_pages(client_for, personas):
    client = client_for(personas.outsider)
    target = personas.membership(personas.member)
    for url in [members_url(personas),
                reverse("accounts:add_member", args=[personas.team.pk]),
                reverse("accounts:change_role", args=[personas.team.pk, target.pk]),
                reverse("accounts:remove_member", args=[personas.team.pk, target.pk])]:
        method = client.get if url == members_url(personas) else client.post
        assert method(url, {"username": "x", "role": "owner"}).status_code == 404, url
    assert Membership.objects.get(pk=target.pk).role == Role.MEMBER


def test_a_member_cannot_add_change_or_remove_members(client_for, personas):
    client = client_for(personas.member)
    assert add(client, personas, "sneaky").status_code == 404
    assert not User.objects.filter(username="sneaky").exists()
    admin = personas.membership(personas.admin)
    assert client.post(reverse("accounts:change_role", args=[personas.team.pk, admin.pk]),
                       {"role": Role.MEMBER}).status_code == 404
    assert client.post(reverse("accounts:remove_member", args=[personas.team.pk, admin.pk])).status_code == 404
    assert Membership.objects.get(pk=admin.pk).role == Role.ADMIN
    assert "Add a member" not in client.get(members_url(personas)).content.decode()


def test_an_admin_adds_a_member_who_sets_a_password_with_a_one_time_link(client_for, personas, client):
    page = add(client_for(personas.admin), personas, "新人").content.decode()
    assert "新人 was added to the team." in page
    link = re.search(r'value="(http://testserver/accounts/set-password/[^"]+)"', page).group(1)
    new_user = User.objects.get(username="新人")
    assert not new_user.has_usable_password()
    assert Membership.objects.get(user=new_user).role == Role.MEMBER

    # The link is shown once only.
    assert "set-password" not in client_for(personas.admin).get(members_url(personas)).content.decode()

    client.logout()
    form_page = client.get(link, follow=True)
    set_url = form_page.redirect_chain[-1][0]
    password = "a fresh secret phrase 7"
    done = client.post(set_url, {"new_password1": password, "new_password2": password})
    assert done.status_code == 302
    signed_in = client.post(reverse("accounts:login"), {"username": "新人", "password": password})
    assert signed_in.status_code == 302 and signed_in.wsgi_request.user == new_user
    client.logout()
    assert "invalid or was already used" in client.get(link, follow=True).content.decode()


def test_adding_an_existing_user_shows_no_link(client_for, personas):
    page = add(client_for(personas.owner), personas, "oscar").content.decode()
    assert "oscar was added to the team." in page
    assert "set-password" not in page
    assert Membership.objects.filter(team=personas.team, user=personas.outsider).exists()
    assert personas.outsider.check_password(PASSWORD)


def test_adding_someone_twice_is_refused(client_for, personas):
    page = add(client_for(personas.owner), personas, "mei").content.decode()
    assert "mei is already a member of this team." in page


def test_an_admin_cannot_grant_the_owner_role(client_for, personas):
    client = client_for(personas.admin)
    page = add(client, personas, "boss", role=Role.OWNER).content.decode()
    assert "Only an owner can grant" in page
    assert not User.objects.filter(username="boss").exists()
    member = personas.membership(personas.member)
    client.post(reverse("accounts:change_role", args=[personas.team.pk, member.pk]), {"role": Role.OWNER})
    assert Membership.objects.get(pk=member.pk).role == Role.MEMBER


def test_an_admin_cannot_remove_an_owner(client_for, personas):
    owner = personas.membership(personas.owner)
    client_for(personas.admin).post(reverse("accounts:remove_member", args=[personas.team.pk, owner.pk]))
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_changes_roles_and_removes_members(client_for, personas):
    client = client_for(personas.owner)
    member = personas.membership(personas.member)
    client.post(reverse("accounts:change_role", args=[personas.team.pk, member.pk]), {"role": Role.ADMIN})
    assert Membership.objects.get(pk=member.pk).role == Role.ADMIN
    client.post(reverse("accounts:remove_member", args=[personas.team.pk, member.pk]))
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert client_for(personas.member).get(members_url(personas)).status_code == 404


def test_the_last_owner_cannot_leave_or_be_demoted(client_for, personas):
    client = client_for(personas.owner)
    owner = personas.membership(personas.owner)
    page = client.post(reverse("accounts:change_role", args=[personas.team.pk, owner.pk]),
                       {"role": Role.ADMIN}, follow=True).content.decode()
    assert "A team needs at least one owner." in page
    client.post(reverse("accounts:remove_member", args=[personas.team.pk, owner.pk]))
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_a_membership_of_another_team_cannot_be_reached_through_ones_own_team(client_for, personas):
    foreign = personas.membership(personas.outsider, personas.other_team)
    response = client_for(personas.owner).post(
        reverse("accounts:remove_member", args=[personas.team.pk, foreign.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()
