"""The pages people use all day: workspace, job view, gallery and player.

Pages render what is known now; the browser then follows changes over WebSockets and acts
through the REST API, so the rules live in one place (jobs.services, jobs.access).
"""

from datetime import datetime, time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import current_membership
from accounts.models import Quota
from heygem_site.ids import parse_id
from inference import voices
from jobs import events, pace, services
from jobs.housekeeping import expiry_of
from jobs.run_order import in_run_order
from jobs.access import MANAGER_ROLES, assets_for_user, get_job_for_user, get_result_for_user, results_for_user
from jobs.errors import message_for
from jobs.models import Asset, Job, Result

GALLERY_PAGE_SIZE = 24
LIBRARY_SIZE = 100


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
        "speech_languages": Job.SpeechLanguage.choices,
        # The page's own language is the best first guess at the voice's: someone working in Chinese mostly
        # uploads voices that do not speak English, and English recognition on them barely moves the lips.
        "speech_language": Job.SpeechLanguage.ENGLISH if get_language().startswith("en") else Job.SpeechLanguage.OTHER,
        "voices": [voice.to_dict() for voice in voices.list_voices(settings.VOICES_DIRS)],
        **_library(request.user, membership.team),
    }
    return render(request, "jobs/workspace.html", context)


def _library(user, team):
    """The team's uploads this user may use in a job (their own; an owner's or admin's: everyone's),
    newest first, for the workspace's "reuse" lists, and the facts the page shows once one is picked."""
    assets = list(assets_for_user(user).filter(team=team).select_related("owner")[:LIBRARY_SIZE])
    facts = {asset.pk: {"id": asset.pk, "kind": asset.kind, "original_name": asset.original_name,
                        "size": asset.size, "duration_s": asset.duration_s, "width": asset.width,
                        "height": asset.height, "fps": asset.fps,
                        "url": reverse("api-asset-file", args=[asset.pk])} for asset in assets}
    return {"library": {kind: [a for a in assets if a.kind == kind] for kind in Asset.Kind.values},
            "library_facts": facts}


@login_required
def job_detail(request, job_id):
    job = get_job_for_user(request.user, job_id)
    results = list(job.results.select_related("video", "job__audio").order_by("pk"))
    for result in results:
        result.template_frames, result.output_frames = pace.frame_counts(result)
    _add_error_message(results)
    _add_queue_place(results)
    return render(request, "jobs/job.html", {
        "job": job, "results": results, "pace": pace.recent_pace(), "event_kinds": events.KINDS,
        "any_active": any(r.state in Result.ACTIVE for r in results),
        "any_succeeded": any(r.state == Result.State.SUCCEEDED for r in results)})


def _team_members_to_show(request):
    """The current team's memberships when the user may see the team's videos (owner, admin), else None."""
    membership = current_membership(request)
    if membership is None or membership.role not in MANAGER_ROLES:
        return None
    return membership.team.memberships.select_related("user").order_by("user__username")


def _gallery_results(request):
    """The user's own results, or with ?scope=team the current team's (owners and admins), with the
    gallery's filters applied, newest first."""
    filters = {"scope": request.GET.get("scope", ""), "member": request.GET.get("member", ""),
               "state": request.GET.get("state", ""), "job": request.GET.get("job", ""),
               "since": request.GET.get("since", ""), "until": request.GET.get("until", "")}
    results = results_for_user(request.user).select_related("video", "job", "job__audio", "job__created_by")
    if filters["scope"] == "team" and _team_members_to_show(request) is not None:
        results = results.filter(job__team=current_membership(request).team)
        if parse_id(filters["member"]) is not None:
            results = results.filter(job__created_by_id=parse_id(filters["member"]))
        else:
            filters["member"] = ""
    else:
        results = results.filter(job__created_by=request.user)
        filters["scope"] = filters["member"] = ""
    results = results.order_by("-created_at", "-pk")
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
    _add_error_message(page.object_list)
    _add_queue_place(page.object_list)
    query = _query(filters)
    narrowed = any(v for k, v in filters.items() if k != "scope")
    return render(request, "jobs/gallery.html", {
        "page": page, "filters": filters, "query": query, "states": Result.State.choices, "narrowed": narrowed,
        "members": _team_members_to_show(request), "scope_query": _query(filters, keep=("scope", "member"))})


def _query(filters, keep=None):
    return urlencode([(k, v) for k, v in filters.items() if v and (keep is None or k in keep)])


def _add_queue_place(results):
    """Sets `queue_ahead` on each queued result: how many queued videos (any team's) go before it, in the
    order workers will take them now (jobs/run_order.py)."""
    results = list(results)
    if not any(result.state == Result.State.QUEUED for result in results):
        for result in results:
            result.queue_ahead = None
        return
    queue = list(in_run_order(Result.objects.filter(state=Result.State.QUEUED)).values_list("pk", flat=True))
    place = {pk: index for index, pk in enumerate(queue)}
    for result in results:
        result.queue_ahead = place.get(result.pk) if result.state == Result.State.QUEUED else None


def _add_error_message(results):
    """Sets `error_text`: the failure in the reader's language (none for a cancelled or fine result)."""
    for result in results:
        failed = result.error_code and result.state == Result.State.FAILED
        result.error_text = message_for(result.error_code, job=result.job_id) if failed else ""


def _place_in_gallery(request, result):
    """(ids of the gallery as filtered, the result's index in them or None, the filter query string)."""
    results, filters = _gallery_results(request)
    ids = list(results.values_list("pk", flat=True))
    query = _query(filters)
    return ids, (ids.index(result.pk) if result.pk in ids else None), query


@login_required
def player(request, result_id):
    result = get_result_for_user(request.user, result_id)
    ids, position, query = _place_in_gallery(request, result)
    newer = ids[position - 1] if position else None
    older = ids[position + 1] if position is not None and position + 1 < len(ids) else None
    _add_expiry([result])
    _add_error_message([result])
    _add_queue_place([result])
    return render(request, "jobs/player.html", {"result": result, "newer": newer, "older": older, "query": query,
                                                "position": position, "count": len(ids),
                                                "error_message": result.error_text})


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
