"""Operators' panel: jobs, results and uploads, with actions that go through jobs.services, and a
disk usage page. Only staff reach the admin site; each action also needs the model permission."""

from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Quota
from jobs import housekeeping, services, storage
from jobs.models import Asset, Job, JobEvent, Result


class EventInline(admin.TabularInline):
    model = JobEvent
    fk_name = "result"
    fields = ["seq", "created_at", "kind", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["seq"]
    verbose_name_plural = _("event log")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "video_name", "team", "user", "state", "backend_used", "duration", "processing",
                    "speed", "size", "created_at"]
    list_filter = ["state", "job__team", "job__created_by", "backend_used", "created_at", "error_code"]
    search_fields = ["=id", "=job__id", "video__original_name", "job__audio__original_name"]
    list_select_related = ["job__team", "job__created_by", "video"]
    readonly_fields = [f.name for f in Result._meta.fields]
    inlines = [EventInline]
    actions = ["cancel", "retry", "delete_with_files"]
    date_hierarchy = "created_at"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # It would leave the files behind; ours removes them too.
        return actions

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("video"), ordering="video__original_name")
    def video_name(self, result):
        return result.video.original_name

    @admin.display(description=_("team"), ordering="job__team__name")
    def team(self, result):
        return result.job.team

    @admin.display(description=_("user"), ordering="job__created_by__username")
    def user(self, result):
        return result.job.created_by

    @admin.display(description=_("duration (s)"), ordering="output_duration_s")
    def duration(self, result):
        return round(result.output_duration_s, 1) if result.output_duration_s else None

    @admin.display(description=_("processing (s)"))
    def processing(self, result):
        if result.started_at and result.finished_at:
            return round((result.finished_at - result.started_at).total_seconds(), 1)
        return None

    @admin.display(description=_("speed (x real time)"))
    def speed(self, result):
        seconds = self.processing(result)
        return round(result.output_duration_s / seconds, 2) if seconds and result.output_duration_s else None

    @admin.display(description=_("size"), ordering="output_size")
    def size(self, result):
        from django.template.defaultfilters import filesizeformat

        return filesizeformat(result.output_size + result.thumbnail_size) if result.output_size else "–"

    def _report(self, request, count, total, done_message):
        self.message_user(request, done_message % {"count": count, "total": total},
                          messages.SUCCESS if count else messages.WARNING)

    @admin.action(description=_("Cancel the selected videos"), permissions=["change"])
    def cancel(self, request, queryset):
        count = sum(services.cancel_result(result) for result in queryset)
        self._report(request, count, queryset.count(), _("Cancelled %(count)s of %(total)s (others were not running)."))

    @admin.action(description=_("Retry the selected failed videos"), permissions=["change"])
    def retry(self, request, queryset):
        count = sum(services.retry_result(result) for result in queryset.select_related("job__audio"))
        self._report(request, count, queryset.count(), _("Queued %(count)s of %(total)s again (only failed or cancelled ones)."))

    @admin.action(description=_("Delete the selected videos and their files"), permissions=["delete"])
    def delete_with_files(self, request, queryset):
        results = list(queryset.select_related("video"))
        for result in results:
            services.delete_result(result)
        self.message_user(request, ngettext("Deleted %d video.", "Deleted %d videos.", len(results)) % len(results))


class ResultInline(admin.TabularInline):
    model = Result
    fields = ["id", "video", "state", "progress", "error_code", "output_size"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "created_by", "audio", "backend", "created_at", "finished_at"]
    list_filter = ["team", "created_by", "backend", "speech_language", "created_at"]
    search_fields = ["=id", "audio__original_name", "results__video__original_name"]
    list_select_related = ["team", "created_by", "audio"]
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "webhook_secret"]
    exclude = ["webhook_secret"]
    inlines = [ResultInline]

    def has_add_permission(self, request):
        return False


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "kind", "team", "owner", "size", "duration_s", "created_at"]
    list_filter = ["kind", "team", "created_at"]
    search_fields = ["=id", "original_name", "sha256"]
    list_select_related = ["team", "owner"]
    readonly_fields = [f.name for f in Asset._meta.fields]

    def has_add_permission(self, request):
        return False


def disk_usage(request):
    """Bytes per team and per user (from the database, checked against the disk by
    `manage.py check_storage`), the biggest items, quotas and the volume's free space."""
    teams = housekeeping.usage_by_owner("team")
    quotas = {q.team_id: q for q in Quota.objects.all()}
    for team_id, entry in teams:
        quota = quotas.get(team_id)
        entry["limit"] = quota.storage_bytes if quota else None
        entry["percent"] = round(100 * entry["total"] / quota.storage_bytes, 1) if quota and quota.storage_bytes else None
    context = {
        **admin.site.each_context(request),
        "title": _("Disk usage"),
        "teams": teams,
        "users": housekeeping.usage_by_owner("user"),
        "biggest": housekeeping.biggest_items(),
        "space": storage.free_space(),
        "total": sum(entry["total"] for _, entry in teams),
    }
    return render(request, "admin/disk_usage.html", context)
