"""The pages people use all day: workspace, job view, gallery and player.

Pages render what is known now; the browser then follows changes over WebSockets and acts
through the REST API, so the rules live in one place (jobs.services, jobs.access).
"""

from datetime import datetime, time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import current_membership
from accounts.models import Quota
from heygem_site.ids import parse_id
from jobs import services
from jobs.housekeeping import expiry_of
from jobs.access import get_job_for_user, get_result_for_user, results_for_user
from jobs.models import Job, Result

GALLERY_PAGE_SIZE = 24


@login_required
def workspace(request):
    membership = current_membership(request)
    if membership is None:
        return render(request, "home.html", {"membership": None})
    context = {
        "usage": services.usage(membership.team),
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "max_input_minutes": settings.MAX_INPUT_SECONDS // 60,
        "length_policies": Job.LengthPolicy.choices,
        "qualities": Job.Quality.choices,
    }
    return render(request, "jobs/workspace.html", context)


@login_required
def job_detail(request, job_id):
    job = get_job_for_user(request.user, job_id)
    results = job.results.select_related("video").order_by("pk")
    return render(request, "jobs/job.html", {"job": job, "results": results})


def _gallery_results(request):
    """The user's own results with the gallery's filters applied, newest first."""
    results = (results_for_user(request.user).filter(job__created_by=request.user)
               .select_related("video", "job", "job__audio").order_by("-created_at", "-pk"))
    filters = {"state": request.GET.get("state", ""), "job": request.GET.get("job", ""),
               "since": request.GET.get("since", ""), "until": request.GET.get("until", "")}
    if filters["state"] in Result.State.values:
        results = results.filter(state=filters["state"])
    if parse_id(filters["job"]) is not None:
        results = results.filter(job_id=parse_id(filters["job"]))
    for key, lookup, at in (("since", "created_at__gte", time.min), ("until", "created_at__lte", time.max)):
        try:
            day = datetime.strptime(filters[key], "%Y-%m-%d").date()
            results = results.filter(**{lookup: timezone.make_aware(datetime.combine(day, at))})
        except ValueError:
            filters[key] = ""
    return results, filters


@login_required
def gallery(request):
    results, filters = _gallery_results(request)
    page = Paginator(results, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    _add_expiry(page.object_list)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "jobs/gallery.html", {"page": page, "filters": filters, "query": query,
                                                 "states": Result.State.choices})


def _place_in_gallery(request, result):
    """(ids of the gallery as filtered, the result's index in them or None, the filter query string)."""
    results, filters = _gallery_results(request)
    ids = list(results.values_list("pk", flat=True))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return ids, (ids.index(result.pk) if result.pk in ids else None), query


@login_required
def player(request, result_id):
    result = get_result_for_user(request.user, result_id)
    ids, position, query = _place_in_gallery(request, result)
    newer = ids[position - 1] if position else None
    older = ids[position + 1] if position is not None and position + 1 < len(ids) else None
    _add_expiry([result])
    return render(request, "jobs/player.html", {"result": result, "newer": newer, "older": older, "query": query,
                                                "position": position, "count": len(ids)})


def _add_expiry(results):
    """Sets `expires_at` on each result from its team's retention policy (None while it runs)."""
    quotas = {q.team_id: q for q in Quota.objects.filter(team_id__in={r.job.team_id for r in results})}
    for result in results:
        result.expires_at = expiry_of(result, quotas[result.job.team_id]) if result.job.team_id in quotas else None


@login_required
@require_POST
def delete_current(request, result_id):
    """Deletes the video on screen and moves on to the next one (older first, else newer)."""
    result = get_result_for_user(request.user, result_id)
    ids, position, query = _place_in_gallery(request, result)
    services.delete_result(result)
    messages.success(request, _("The video was deleted."))
    if position is not None:
        remaining = ids[:position] + ids[position + 1:]
        if remaining:
            following = remaining[min(position, len(remaining) - 1)]
            return redirect(f"/gallery/{following}/" + (f"?{query}" if query else ""))
    return redirect("/gallery/" + (f"?{query}" if query else ""))
