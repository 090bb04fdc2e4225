"""Who may see which team. Every lookup of a team goes through here.

Another team's object and a missing object give the same 404, so ids reveal nothing.
"""

from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Membership
from heygem_site.ids import parse_id

SESSION_TEAM_KEY = "team_id"


def get_membership_for_user(user, team_id):
    """The user's membership of team `team_id`, or Http404 when they are not in it."""
    team_id = parse_id(team_id)
    if not user.is_authenticated or team_id is None:
        raise Http404(_("No such team."))
    try:
        return Membership.objects.select_related("team").get(user=user, team_id=team_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404(_("No such team.")) from None


def get_team_for_user(user, team_id, *, manage=False):
    """Team `team_id` if `user` is a member (an owner or admin when `manage`), else Http404."""
    membership = get_membership_for_user(user, team_id)
    if manage and not membership.can_manage_members:
        raise Http404(_("No such team."))
    return membership.team


def current_membership(request):
    """The membership of the team picked in this session, falling back to the user's first team.

    Returns None for a user in no team (e.g. a fresh superuser before `ensure_admin` ran).
    """
    if not request.user.is_authenticated:
        return None
    cached = getattr(request, "_current_membership", False)
    if cached is not False:
        return cached
    memberships = Membership.objects.select_related("team").filter(user=request.user)
    team_id = request.session.get(SESSION_TEAM_KEY)
    membership = memberships.filter(team_id=team_id).first() if team_id else None
    if membership is None:
        membership = memberships.order_by("created_at", "pk").first()
    request._current_membership = membership
    return membership
