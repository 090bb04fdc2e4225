from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.access import SESSION_TEAM_KEY, get_membership_for_user, get_team_for_user
from accounts.forms import AddMemberForm, RoleForm, TokenForm
from accounts.models import Membership

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
        "form": AddMemberForm(),
        "role_choices": RoleForm.base_fields["role"].choices,
        "once": request.session.pop(ONCE_KEY, None),
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_POST
def add_member(request, team_id):
    get_team_for_user(request.user, team_id, manage=True)
    actor = get_membership_for_user(request.user, team_id)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the new member's details: %(errors)s") % {"errors": _errors(form)})
        return redirect("accounts:members", team_id=team_id)
    try:
        membership, link = services.add_member(actor, form.cleaned_data["username"], form.cleaned_data["role"],
                                               email=form.cleaned_data["email"])
    except services.MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:members", team_id=team_id)
    if link:
        _show_once(request, "set_password_link", {"username": membership.user.username,
                                                  "url": request.build_absolute_uri(link)})
    messages.success(request, _("%(username)s was added to the team.") % {"username": membership.user.username})
    return redirect("accounts:members", team_id=team_id)


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
