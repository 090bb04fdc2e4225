from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.access import current_membership
from jobs import services


@login_required
def team_home(request):
    """The current team: role, usage against quota, links to members and tokens."""
    membership = current_membership(request)
    usage = services.usage(membership.team) if membership else None
    return render(request, "home.html", {"membership": membership, "usage": usage})


def api_index(request):
    """/api/ and /api/v1/: where the REST API is described (anyone may read that much)."""
    return JsonResponse({"version": "1", "base": reverse("api-index") + "v1/", "docs": reverse("api-docs"),
                         "schema": reverse("api-schema")})
