"""Who may see which job, result and asset. Every lookup goes through here.

A job is visible to its creator and to its team's owners and admins; everyone else (another team,
a teammate with the member role, a missing id) gets the same 404.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.http import Http404

from accounts.models import Membership, Role
from heygem_site.ids import parse_id
from jobs.models import Asset, Job, Result, Upload

MANAGER_ROLES = (Role.OWNER, Role.ADMIN)


def _visible(user, owner_field, team_field):
    if user is None or not user.is_authenticated:
        return Q(pk__in=[])
    managed = Membership.objects.filter(user=user, role__in=MANAGER_ROLES).values("team_id")
    member_of = Membership.objects.filter(user=user).values("team_id")
    return (Q(**{owner_field: user}) & Q(**{f"{team_field}__in": member_of})) | Q(**{f"{team_field}__in": managed})


def jobs_for_user(user):
    return Job.objects.filter(_visible(user, "created_by", "team_id"))


def results_for_user(user):
    return Result.objects.filter(_visible(user, "job__created_by", "job__team_id"))


def assets_for_user(user):
    return Asset.objects.filter(_visible(user, "owner", "team_id"))


def get_or_404(queryset, pk):
    """The object `pk` of `queryset`; 404 when it is missing, hidden, or `pk` is no valid id at all."""
    if isinstance(queryset.model._meta.pk, models.BigAutoField):
        pk = parse_id(pk)
        if pk is None:
            raise Http404
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404 from None


def get_job_for_user(user, job_id):
    return get_or_404(jobs_for_user(user).select_related("audio", "team"), job_id)


def get_result_for_user(user, result_id):
    return get_or_404(results_for_user(user).select_related("job", "video"), result_id)


def get_asset_for_user(user, asset_id):
    return get_or_404(assets_for_user(user), asset_id)


def get_upload_for_user(user, upload_id):
    # An upload in progress is private to the person sending it; an expired one is gone.
    from jobs.services import open_uploads

    uploads = open_uploads().filter(owner=user) if user and user.is_authenticated else Upload.objects.none()
    return get_or_404(uploads, upload_id)
