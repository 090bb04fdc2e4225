"""Every write to teams, memberships and tokens goes through these functions."""

import hashlib
import secrets

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, Invitation, Membership, Quota, Role, Team

TOKEN_PREFIX = "hg_"


class MembershipError(Exception):
    """A refused change to a team's members; the message is safe to show to the user."""


def create_team(name, owner):
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Quota.objects.create(
            team=team,
            storage_bytes=settings.DEFAULT_QUOTA_STORAGE_BYTES,
            concurrent_jobs=settings.DEFAULT_QUOTA_CONCURRENT_JOBS,
            monthly_minutes=settings.DEFAULT_QUOTA_MONTHLY_MINUTES,
        )
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def _check_can_assign(actor, role, target=None):
    if not actor.can_manage_members:
        raise MembershipError(_("Only the team's owners and admins can manage members."))
    touches_owner = role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and actor.role != Role.OWNER:
        raise MembershipError(_("Only an owner can grant, change or remove the owner role."))


def _check_keeps_an_owner(target):
    if target.role == Role.OWNER and not target.team.memberships.filter(role=Role.OWNER).exclude(pk=target.pk).exists():
        raise MembershipError(_("A team needs at least one owner."))


def invite_member(actor, role, note=""):
    """Makes a one-time link to join the actor's team with `role`. Returns (invitation, path); the path
    holds the only copy of the token, to be shown once."""
    _check_can_assign(actor, role)
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=actor.team, role=role, note=note, created_by=actor.user, token_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(seconds=settings.INVITATION_SECONDS))
    return invitation, reverse("accounts:join", args=[raw])


def open_invitation(raw):
    """The invitation the token `raw` opens, or None when it is unknown, expired, used or revoked."""
    return (Invitation.objects.select_related("team", "created_by")
            .filter(token_hash=hash_token(raw or ""), closed_at__isnull=True, expires_at__gt=timezone.now()).first())


def accept_invitation(user, raw):
    """`user` joins the invited team, once. Returns the new membership."""
    with transaction.atomic():
        invitation = open_invitation(raw)
        if invitation is not None:
            # Lock it: two accepts of one link must not both succeed.
            invitation = Invitation.objects.select_for_update().filter(pk=invitation.pk, closed_at__isnull=True).first()
        if invitation is None:
            raise MembershipError(_("This invitation is invalid, expired or was already used."))
        if Membership.objects.filter(team=invitation.team, user=user).exists():
            raise MembershipError(_("You are already a member of %(team)s.") % {"team": invitation.team.name})
        membership = Membership.objects.create(team=invitation.team, user=user, role=invitation.role)
        invitation.closed_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["closed_at", "accepted_by"])
    return membership


def decline_invitation(raw):
    """Closes the invitation without joining; the link stops working."""
    return bool(Invitation.objects.filter(token_hash=hash_token(raw or ""), closed_at__isnull=True)
                .update(closed_at=timezone.now()))


def revoke_invitation(actor, invitation):
    if actor.team_id != invitation.team_id:
        raise MembershipError(_("That invitation is not for this team."))
    _check_can_assign(actor, invitation.role)
    invitation.delete()


def change_role(actor, target, role):
    if actor.team_id != target.team_id:
        raise MembershipError(_("That member is not in this team."))
    _check_can_assign(actor, role, target)
    with transaction.atomic():
        # Lock the team's owner rows so two owners demoting each other cannot both succeed.
        list(Membership.objects.select_for_update().filter(team_id=target.team_id, role=Role.OWNER))
        if role != Role.OWNER:
            _check_keeps_an_owner(target)
        target.role = role
        target.save(update_fields=["role"])
    return target


def remove_member(actor, target):
    if actor.team_id != target.team_id:
        raise MembershipError(_("That member is not in this team."))
    _check_can_assign(actor, target.role, target)
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(team_id=target.team_id, role=Role.OWNER))
        _check_keeps_an_owner(target)
        target.delete()


def hash_token(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(user, name):
    """Returns (token, raw). The raw value is shown once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], key_hash=hash_token(raw))
    return token, raw


def revoke_api_token(user, token_id):
    """Deletes one of the user's tokens; returns False when it is not theirs or gone."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def ensure_admin(username, password=None, email=""):
    """Creates the first superuser and its team when the site has no superuser.

    Returns (user, password) when it created one (password generated when not given), else None.
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = password or secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_superuser(username=username, email=email, password=password)
        create_team(_("Default team"), user)
    return user, password
