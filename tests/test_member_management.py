import re

import pytest
from django.urls import reverse

from datetime import timedelta

from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User

pytestmark = pytest.mark.django_db


def members_url(personas):
    return reverse("accounts:members", args=[personas.team.pk])


def invite(client, personas, role=Role.MEMBER, note=""):
    """Makes an invitation as the signed-in user; returns (page, link or None)."""
    page = client.post(reverse("accounts:invite_member", args=[personas.team.pk]), {"role": role, "note": note},
                       follow=True).content.decode()
    match = re.search(r'value="http://testserver(/accounts/join/[^"]+)"', page)
    return page, match.group(1) if match else None


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
                reverse("accounts:invite_member", args=[personas.team.pk]),
                reverse("accounts:change_role", args=[personas.team.pk, target.pk]),
                reverse("accounts:remove_member", args=[personas.team.pk, target.pk])]:
        method = client.get if url == members_url(personas) else client.post
        assert method(url, {"role": "owner"}).status_code == 404, url
    assert Membership.objects.get(pk=target.pk).role == Role.MEMBER
    assert not Invitation.objects.exists()


def test_a_member_cannot_invite_change_or_remove_members(client_for, personas):
    client = client_for(personas.member)
    assert client.post(reverse("accounts:invite_member", args=[personas.team.pk]), {"role": "member"}).status_code == 404
    assert not Invitation.objects.exists()
    admin = personas.membership(personas.admin)
    assert client.post(reverse("accounts:change_role", args=[personas.team.pk, admin.pk]),
                       {"role": Role.MEMBER}).status_code == 404
    assert client.post(reverse("accounts:remove_member", args=[personas.team.pk, admin.pk])).status_code == 404
    assert Membership.objects.get(pk=admin.pk).role == Role.ADMIN
    assert "Invite a member" not in client.get(members_url(personas)).content.decode()


def test_an_existing_account_joins_only_by_accepting_the_invitation(client_for, personas, client):
    page, link = invite(client_for(personas.owner), personas, note="Oscar from sales")
    assert link and "Oscar from sales" not in page.split("invitation-link")[1].split("</section>")[0]
    # Nothing happened to anyone yet: the link is all there is.
    assert not Membership.objects.filter(team=personas.team, user=personas.outsider).exists()
    assert "set-password" not in page and "oscar" not in page
    # Shown once.
    assert link not in client_for(personas.owner).get(members_url(personas)).content.decode()

    client.logout()
    signed_out = client.get(link).content.decode()
    assert "Presenters" in signed_out and "Sign in to accept" in signed_out
    client.force_login(personas.outsider)
    assert "Join the team" in client.get(link).content.decode()
    assert not Membership.objects.filter(team=personas.team, user=personas.outsider).exists()
    response = client.post(link, {"action": "accept"}, follow=True)
    assert "You joined Presenters." in response.content.decode()
    assert Membership.objects.get(team=personas.team, user=personas.outsider).role == Role.MEMBER
    # Once only.
    assert client.post(link, {"action": "accept"}).status_code == 404


def test_a_declined_invitation_adds_nobody_and_stops_working(client_for, personas, client):
    _, link = invite(client_for(personas.owner), personas)
    client.force_login(personas.outsider)
    client.post(link, {"action": "decline"})
    assert not Membership.objects.filter(team=personas.team, user=personas.outsider).exists()
    assert client.post(link, {"action": "accept"}).status_code == 404
    assert "invalid, expired or was already used" in client.get(link).content.decode()


def test_a_new_person_makes_an_account_from_the_link(client_for, personas, client):
    _, link = invite(client_for(personas.admin), personas)
    client.logout()
    password = "a fresh secret phrase 7"
    # A name that is taken is refused to the invitee (any sign-up form must), never to the inviter.
    taken = client.post(link, {"action": "register", "username": "oscar", "password1": password,
                               "password2": password}).content.decode()
    assert "already exists" in taken
    assert not Membership.objects.filter(team=personas.team, user=personas.outsider).exists()
    response = client.post(link, {"action": "register", "username": "新人", "password1": password,
                                  "password2": password}, follow=True)
    new_user = User.objects.get(username="新人")
    assert response.wsgi_request.user == new_user
    assert Membership.objects.get(user=new_user, team=personas.team).role == Role.MEMBER
    client.logout()
    signed_in = client.post(reverse("accounts:login"), {"username": "新人", "password": password})
    assert signed_in.status_code == 302


def test_an_invitation_expires_and_can_be_revoked(client_for, personas, client, settings):
    owner = client_for(personas.owner)
    _, link = invite(owner, personas, note="for Sam")
    invitation = Invitation.objects.get()
    assert "for Sam" in owner.get(members_url(personas)).content.decode()
    owner.post(reverse("accounts:revoke_invitation", args=[personas.team.pk, invitation.pk]))
    assert not Invitation.objects.exists()
    _, link = invite(owner, personas)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(personas.outsider)
    assert client.post(link, {"action": "accept"}).status_code == 404
    assert not Membership.objects.filter(team=personas.team, user=personas.outsider).exists()


def test_joining_a_team_one_is_already_in_is_refused(client_for, personas):
    _, link = invite(client_for(personas.owner), personas)
    client = client_for(personas.member)
    page = client.post(link, {"action": "accept"}, follow=True).content.decode()
    assert "You are already a member of Presenters." in page
    assert Membership.objects.filter(team=personas.team, user=personas.member).count() == 1


def test_an_admin_cannot_invite_an_owner(client_for, personas):
    page, link = invite(client_for(personas.admin), personas, role=Role.OWNER)
    assert "Only an owner can grant" in page and link is None
    assert not Invitation.objects.exists()
    member = personas.membership(personas.member)
    client_for(personas.admin).post(reverse("accounts:change_role", args=[personas.team.pk, member.pk]),
                                    {"role": Role.OWNER})
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
