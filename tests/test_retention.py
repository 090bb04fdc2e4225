from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import housekeeping, services
from jobs.models import Asset, Job, JobEvent, Result
from tests.concurrency import at_once
from tests.jobs_factories import VIDEOS, make_job
from tests.media import write_video

pytestmark = pytest.mark.django_db


def finish(result, days_ago, size=1000, media_root=None):
    """Marks a result finished `days_ago` with a real output file of `size` bytes."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save(f"teams/{result.job.team_id}/outputs/{result.job_id}/{result.pk}.mp4",
                                ContentFile(b"x" * size))
    when = timezone.now() - timedelta(days=days_ago)
    Result.objects.filter(pk=result.pk).update(state="succeeded", output=name, output_size=size, finished_at=when)
    result.refresh_from_db()
    return result


@pytest.fixture
def two_teams(personas, tmp_path):
    """Presenters keep outputs 7 days; Competitors keep them 60 days. Each has an old, a recent and a running video."""
    personas.team.quota.keep_outputs_days = 7
    personas.team.quota.save()
    personas.other_team.quota.keep_outputs_days = 60
    personas.other_team.quota.save()
    ours = make_job(personas, tmp_path, videos=VIDEOS)
    theirs_job = make_job(personas, tmp_path, videos=VIDEOS, user=personas.owner)
    Job.objects.filter(pk=theirs_job.pk).update(team=personas.other_team)
    Asset.objects.filter(pk__in=[theirs_job.audio_id, *theirs_job.results.values_list("video_id", flat=True)]).update(
        team=personas.other_team)
    sets = {}
    for name, job in (("ours", ours), ("theirs", Job.objects.get(pk=theirs_job.pk))):
        old, recent, running = job.results.order_by("pk")
        sets[name] = (finish(old, 30), finish(recent, 2), running)
        Result.objects.filter(pk=running.pk).update(state="running", started_at=timezone.now() - timedelta(days=90))
    return sets


def test_retention_removes_exactly_what_each_team_policy_expires(personas, two_teams, media_root):
    used_before = services.storage_used(personas.team.pk)
    removed = housekeeping.purge_expired()
    ours_old, ours_recent, ours_running = two_teams["ours"]
    theirs_old, theirs_recent, theirs_running = two_teams["theirs"]
    remaining = set(Result.objects.values_list("pk", flat=True))
    assert ours_old.pk not in remaining                              # 30 days > 7
    assert {ours_recent.pk, ours_running.pk} <= remaining            # recent, and running ones are never touched
    assert {theirs_old.pk, theirs_recent.pk, theirs_running.pk} <= remaining  # 30 days < 60
    assert removed["results"] == 1 and removed["bytes"] == 1000
    assert services.storage_used(personas.team.pk) == used_before - 1000
    assert not (media_root / ours_old.output.name).exists() and (media_root / ours_recent.output.name).exists()
    event = JobEvent.objects.get(kind="result.expired")
    assert event.job_id == ours_old.job_id and "Kept 7 days" in event.message
    assert housekeeping.purge_expired() == {"results": 0, "uploads": 0, "jobs": 0, "bytes": 0}


def test_uploads_expire_only_when_nothing_uses_them(personas, tmp_path, media_root):
    personas.team.quota.keep_uploads_days = 3
    personas.team.quota.save()
    job = make_job(personas, tmp_path)
    lone = services.ingest_file(personas.team, personas.member, write_video(tmp_path / "spare.mp4"), "spare.mp4")
    Asset.objects.update(created_at=timezone.now() - timedelta(days=10))
    removed = housekeeping.purge_expired()
    assert removed["uploads"] == 1
    assert not Asset.objects.filter(pk=lone.pk).exists() and not (media_root / lone.file.name).exists()
    assert Asset.objects.filter(pk=job.audio_id).exists()  # its job still has a queued video


def test_a_per_user_cap_deletes_the_oldest_videos_first(personas, tmp_path):
    personas.team.quota.user_storage_gb = 1
    personas.team.quota.save()
    job = make_job(personas, tmp_path, videos=VIDEOS)
    oldest, middle, newest = [finish(r, days, size=600 * 1024**2 // 1000) for r, days in
                              zip(job.results.order_by("pk"), (3, 2, 1))]
    Result.objects.filter(pk__in=[oldest.pk, middle.pk, newest.pk]).update(output_size=500 * 1024**2)
    housekeeping.purge_expired()
    assert sorted(Result.objects.values_list("pk", flat=True)) == [middle.pk, newest.pk]


def test_a_job_whose_videos_all_expired_is_removed_with_its_log(personas, tmp_path):
    personas.team.quota.keep_outputs_days = 1
    personas.team.quota.save()
    job = make_job(personas, tmp_path)
    finish(job.results.get(), 5)
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=5))
    assert housekeeping.purge_expired()["jobs"] == 1
    assert not Job.objects.filter(pk=job.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_remove_each_item_once(personas, two_teams):
    outcomes = at_once(housekeeping.purge_expired)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == [] and sum(o["results"] for o in outcomes) == 1
    assert JobEvent.objects.filter(kind="result.expired").count() == 1


def test_the_gallery_shows_when_each_video_expires(client_for, personas, two_teams):
    page = client_for(personas.member).get("/gallery/").content.decode()
    recent = two_teams["ours"][1]
    expected = (recent.finished_at + timedelta(days=7)).astimezone(timezone.get_current_timezone())
    assert f"Kept until {expected:%m/%d/%Y}" in page
    assert page.count("Kept until") == 2  # the running video has no date yet


def test_abandoned_uploads_and_work_folders_of_killed_workers_are_removed(personas, settings, tmp_path, monkeypatch):
    import os
    import tempfile

    from jobs.models import Upload

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = Upload.objects.create(team=personas.team, owner=personas.member, original_name="x.mp4", size=10)
    stale.part_path().parent.mkdir(parents=True, exist_ok=True)
    stale.part_path().write_bytes(b"12345")
    Upload.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=2))
    fresh = Upload.objects.create(team=personas.team, owner=personas.member, original_name="y.mp4", size=10)
    dead = tmp_path / f"{housekeeping.WORK_DIR_PREFIX}dead"
    (dead / "output.mp4").parent.mkdir()
    (dead / "output.mp4").write_bytes(b"partial")
    old = timezone.now().timestamp() - 3 * 86400
    os.utime(dead / "output.mp4", (old, old))
    os.utime(dead, (old, old))
    alive = tmp_path / f"{housekeeping.WORK_DIR_PREFIX}alive"
    alive.mkdir()
    (alive / "output.mp4").write_bytes(b"being written")
    assert housekeeping.purge_stale_temporary_files() == 2
    assert list(Upload.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not stale.part_path().exists() and not dead.exists() and alive.exists()
