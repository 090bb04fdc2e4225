from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import SESSION_TEAM_KEY, get_membership_for_user, get_team_for_user
from accounts.forms import InviteForm, RoleForm, SignUpForm, TokenForm
from accounts.models import Invitation, Membership

# Secrets shown once (a new token, a set-password link) wait in the server-side session for the
# next page view rather than in a cookie-backed message or a URL.
ONCE_KEY = "show_once"


def _show_once(request, kind, value):
    request.session[ONCE_KEY] = {"kind": kind, "value": value}


@login_required
@require_POST
def switch_team(request):
    team = get_team_for_user(request.user, request.POST.get("team_id"))
    request.session[SESSION_TEAM_KEY] = team.pk
    messages.success(request, _("Switched to %(team)s.") % {"team": team.name})
    next_url = request.POST.get("next") or "home"
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = "home"
    return redirect(next_url)


@login_required
def members(request, team_id):
    membership = get_membership_for_user(request.user, team_id)
    team = membership.team
    context = {
        "team": team,
        "membership": membership,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invitations": (team.invitations.filter(closed_at__isnull=True, expires_at__gt=timezone.now())
                        if membership.can_manage_members else []),
        "form": InviteForm(),
        "role_choices": RoleForm.base_fields["role"].choices,
        "once": request.session.pop(ONCE_KEY, None),
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_POST
def invite_member(request, team_id):
    get_team_for_user(request.user, team_id, manage=True)
    actor = get_membership_for_user(request.user, team_id)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the invitation: %(errors)s") % {"errors": _errors(form)})
        return redirect("accounts:members", team_id=team_id)
    try:
        invitation, path = services.invite_member(actor, form.cleaned_data["role"], form.cleaned_data["note"])
    except services.MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:members", team_id=team_id)
    _show_once(request, "invitation_link", {"url": request.build_absolute_uri(path), "note": invitation.note})
    return redirect("accounts:members", team_id=team_id)


@login_required
@require_POST
def revoke_invitation(request, team_id, invitation_id):
    get_team_for_user(request.user, team_id, manage=True)
    actor = get_membership_for_user(request.user, team_id)
    invitation = get_object_or_404(Invitation, pk=invitation_id, team_id=team_id)
    try:
        services.revoke_invitation(actor, invitation)
        messages.success(request, _("The invitation was revoked; its link no longer works."))
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("accounts:members", team_id=team_id)


def join(request, token):
    """An invitation link: whoever holds it signs in (or makes an account) and accepts or declines."""
    invitation = services.open_invitation(token)
    if invitation is None:
        return render(request, "accounts/join.html", {"invitation": None}, status=404)
    form = SignUpForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "decline":
            services.decline_invitation(token)
            messages.info(request, _("You declined the invitation."))
            return redirect("home" if request.user.is_authenticated else "accounts:login")
        if action == "register" and not request.user.is_authenticated:
            form = SignUpForm(request.POST)
            if form.is_valid():
                user = form.save()
                auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if request.user.is_authenticated and action in ("accept", "register"):
            try:
                membership = services.accept_invitation(request.user, token)
            except services.MembershipError as exc:
                messages.error(request, str(exc))
                return redirect("home")
            request.session[SESSION_TEAM_KEY] = membership.team_id
            messages.success(request, _("You joined %(team)s.") % {"team": membership.team.name})
            return redirect("home")
    return render(request, "accounts/join.html", {"invitation": invitation, "form": form})


def _actor_and_target(request, team_id, membership_id):
    """The signed-in manager's membership and the member they act on, both of team `team_id` (else 404)."""
    get_team_for_user(request.user, team_id, manage=True)
    actor = get_membership_for_user(request.user, team_id)
    target = get_object_or_404(Membership.objects.select_related("team", "user"), pk=membership_id, team_id=team_id)
    return actor, target


@login_required
@require_POST
def change_role(request, team_id, membership_id):
    actor, target = _actor_and_target(request, team_id, membership_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(actor, target, form.cleaned_data["role"])
            messages.success(request, _("%(username)s is now %(role)s.") % {
                "username": target.user.username, "role": target.get_role_display()})
        except services.MembershipError as exc:
            messages.error(request, str(exc))
    return redirect("accounts:members", team_id=team_id)


@login_required
@require_POST
def remove_member(request, team_id, membership_id):
    actor, target = _actor_and_target(request, team_id, membership_id)
    try:
        services.remove_member(actor, target)
        messages.success(request, _("%(username)s was removed from the team.") % {"username": target.user.username})
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    return redirect("accounts:members", team_id=team_id)


@login_required
def tokens(request):
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            token, raw = services.create_api_token(request.user, form.cleaned_data["name"])
            _show_once(request, "api_token", {"name": token.name, "value": raw})
            return redirect("accounts:tokens")
    else:
        form = TokenForm()
    context = {
        "form": form,
        "tokens": request.user.api_tokens.all(),
        "once": request.session.pop(ONCE_KEY, None),
    }
    return render(request, "accounts/tokens.html", context)


@login_required
@require_POST
def revoke_token(request, token_id):
    if services.revoke_api_token(request.user, token_id):
        messages.success(request, _("The token was revoked. Programs using it can no longer sign in."))
    else:
        messages.error(request, _("No such token."))
    return redirect("accounts:tokens")


def _errors(form):
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
