"""Keeping storage in order: the retention sweep, disk usage figures, and drift between the
database and the stored files.

It decides what goes; the deleting is done by the service functions (jobs/services.py), each
conditional on the row still being what the sweep selected, with files removed only by the process
whose row delete succeeded. So two sweeps at once remove each item once and never touch a queued or
running result.
"""

import logging
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import Quota
from jobs import services, storage, uploads
from jobs.models import Asset, Job, Result
from jobs.recovery import WORK_DIR_PREFIX

log = logging.getLogger("heygem.retention")
FINISHED = Result.FINISHED


def purge_expired(now=None):
    """Applies every team's retention policy once. Returns counts of what it removed."""
    now = now or timezone.now()
    removed = {"results": 0, "uploads": 0, "jobs": 0, "bytes": 0}
    for quota in Quota.objects.select_related("team"):
        output_days, upload_days, user_bytes = quota.retention()
        team = quota.team
        old = Result.objects.filter(job__team=team, state__in=FINISHED, finished_at__lt=now - timedelta(days=output_days))
        for result in old:
            _expire(result, f"Kept {output_days} days", removed)
        if user_bytes:
            _cap_per_user(team, user_bytes, removed)
        for job in Job.objects.filter(team=team, finished_at__isnull=False, results__isnull=True):
            # A job whose every video is gone: its log has served; the summary line keeps the record.
            removed["jobs"] += services.delete_emptied_job(job)
        in_use = Q(video_results__isnull=False) | Q(audio_jobs__isnull=False)
        for asset in Asset.objects.filter(team=team, created_at__lt=now - timedelta(days=upload_days)).exclude(in_use):
            _delete_upload(asset, removed)
    if any(removed.values()):
        log.info("Retention removed %(results)s videos, %(uploads)s uploads, %(jobs)s emptied jobs, %(bytes)s bytes",
                 removed, extra={"removed": removed})
    return removed


def _expire(result, reason, removed):
    if services.expire_result(result, reason):
        removed["results"] += 1
        removed["bytes"] += result.output_size + result.thumbnail_size


def _cap_per_user(team, user_bytes, removed):
    totals = (Result.objects.filter(job__team=team, state__in=FINISHED).values("job__created_by")
              .annotate(total=Sum(F("output_size") + F("thumbnail_size"))).filter(total__gt=user_bytes))
    for row in totals:
        excess = row["total"] - user_bytes
        oldest = Result.objects.filter(job__team=team, job__created_by=row["job__created_by"], state__in=FINISHED)
        for result in oldest.select_related("video").order_by("finished_at", "pk"):
            if excess <= 0:
                break
            excess -= result.output_size + result.thumbnail_size
            _expire(result, f"Over {user_bytes // 1024**3} GB per user", removed)


def _delete_upload(asset, removed):
    if services.delete_unused_asset(asset):
        removed["uploads"] += 1
        removed["bytes"] += asset.size


def purge_stale_temporary_files(older_than=timedelta(hours=24)):
    """Resumable uploads that expired (rows and partial files), and the work folders of workers that
    were killed before they could clean up. Returns how many it removed."""
    count = uploads.purge_expired_uploads()
    # A running job touches its folder as it writes; an untouched one for a day belongs to no one.
    cutoff = time.time() - older_than.total_seconds()
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*"):
        try:
            if folder.is_dir() and max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime) < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                count += 1
        except OSError:
            continue  # Removed meanwhile by its own worker.
    return count


def expiry_of(result, quota):
    """When retention will remove this finished result, or None while it is queued or running."""
    if result.finished_at is None or result.state not in FINISHED:
        return None
    return result.finished_at + timedelta(days=quota.retention()[0])


# --- Disk usage ---------------------------------------------------------------------------------

def usage_by_owner(group_by):
    """Bytes of uploads, outputs and thumbnails per team or per user, from the database."""
    owner = {"team": ("team_id", "team__name", "job__team_id", "job__team__name"),
             "user": ("owner_id", "owner__username", "job__created_by_id", "job__created_by__username")}[group_by]
    rows = {}
    for row in Asset.objects.values(owner[0], owner[1]).annotate(n=Sum("size")):
        rows.setdefault(row[owner[0]], {"name": row[owner[1]], "uploads": 0, "outputs": 0, "thumbnails": 0})["uploads"] = row["n"]
    for row in Result.objects.values(owner[2], owner[3]).annotate(o=Sum("output_size"), t=Sum("thumbnail_size")):
        entry = rows.setdefault(row[owner[2]], {"name": row[owner[3]], "uploads": 0, "outputs": 0, "thumbnails": 0})
        entry["outputs"], entry["thumbnails"] = row["o"] or 0, row["t"] or 0
    for entry in rows.values():
        entry["total"] = entry["uploads"] + entry["outputs"] + entry["thumbnails"]
    return sorted(rows.items(), key=lambda item: -item[1]["total"])


def biggest_items(limit=20):
    items = [("upload", a.pk, a.original_name, a.team.name, a.size) for a in
             Asset.objects.select_related("team").order_by("-size")[:limit]]
    items += [("output", r.pk, r.video.original_name, r.job.team.name, r.output_size + r.thumbnail_size) for r in
              Result.objects.select_related("video", "job__team").order_by("-output_size")[:limit]]
    return sorted(items, key=lambda item: -item[4])[:limit]


# --- Drift between rows and files ---------------------------------------------------------------

def find_drift():
    """Files under media with no row (orphans) and rows whose file is gone (missing)."""
    on_disk = storage.stored_names()
    referenced = {}
    for asset in Asset.objects.only("pk", "file"):
        referenced[asset.file.name] = ("asset", asset.pk)
    for result in Result.objects.exclude(output="").only("pk", "output", "thumbnail"):
        referenced[result.output.name] = ("output", result.pk)
        if result.thumbnail.name:
            referenced[result.thumbnail.name] = ("thumbnail", result.pk)
    orphans = sorted(on_disk - set(referenced))
    missing = sorted((kind, pk, name) for name, (kind, pk) in referenced.items() if name not in on_disk)
    return {"orphans": orphans, "missing": missing}


def fix_drift(drift):
    """Deletes orphan files; forgets outputs whose file vanished; deletes unused assets whose file vanished."""
    fixed = {"orphans": 0, "outputs": 0, "assets": 0}
    for name in drift["orphans"]:
        storage.delete(name)
        fixed["orphans"] += 1
    for kind, pk, name in drift["missing"]:
        # A thumbnail alone is not counted; an asset still used by a job stays, for a person to decide.
        if services.forget_missing_file(kind, pk, name) and kind != "thumbnail":
            fixed[kind + "s"] += 1
    return fixed
