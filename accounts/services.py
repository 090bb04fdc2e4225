"""Every write to teams, memberships and tokens goes through these functions."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import ApiToken, Membership, Quota, Role, Team

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


def set_password_path(user):
    """A one-time link that lets `user` choose a password; it stops working once used."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("accounts:set_password", kwargs={"uidb64": uid, "token": token})


def _check_can_assign(actor, role, target=None):
    if not actor.can_manage_members:
        raise MembershipError(_("Only the team's owners and admins can manage members."))
    touches_owner = role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and actor.role != Role.OWNER:
        raise MembershipError(_("Only an owner can grant, change or remove the owner role."))


def _check_keeps_an_owner(target):
    if target.role == Role.OWNER and not target.team.memberships.filter(role=Role.OWNER).exclude(pk=target.pk).exists():
        raise MembershipError(_("A team needs at least one owner."))


def add_member(actor, username, role, email=""):
    """Adds `username` to the actor's team, creating the account when it does not exist.

    Returns (membership, set_password_path); the path is None for an existing account.
    """
    _check_can_assign(actor, role)
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        link = None
        if user is None:
            user = User(username=username, email=email)
            user.set_unusable_password()
            user.save()
            link = set_password_path(user)
        elif Membership.objects.filter(team=actor.team, user=user).exists():
            raise MembershipError(_("%(username)s is already a member of this team.") % {"username": username})
        membership = Membership.objects.create(team=actor.team, user=user, role=role)
    return membership, link


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
