from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.access import current_membership
from jobs import services


@login_required
def team_home(request):
    """The current team: role, usage against quota, links to members and tokens."""
    membership = current_membership(request)
    usage = services.usage(membership.team) if membership else None
    return render(request, "home.html", {"membership": membership, "usage": usage})
