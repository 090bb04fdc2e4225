import pytest
from django.core.management import call_command
from django.urls import reverse

from jobs import housekeeping, services
from jobs.tasks import run_lipsync
from tests.conftest import stored_files
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


def on_disk(root):
    return sum(path.stat().st_size for path in stored_files(root))


def test_usage_figures_follow_the_files_through_uploads_generation_delete_and_sweep(personas, tmp_path, media_root):
    job = make_job(personas, tmp_path, videos=["video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4"])
    assert services.storage_used(personas.team.pk) == on_disk(media_root)
    first, second = job.results.order_by("pk")
    run_lipsync.fn(first.pk)
    assert services.storage_used(personas.team.pk) == on_disk(media_root)
    [(team_id, row)] = housekeeping.usage_by_owner("team")
    assert team_id == personas.team.pk and row["total"] == on_disk(media_root) and row["outputs"] > 0
    [(user_id, user_row)] = housekeeping.usage_by_owner("user")
    assert user_id == personas.member.pk and user_row["total"] == row["total"]
    first.refresh_from_db()
    services.delete_result(first)
    assert services.storage_used(personas.team.pk) == on_disk(media_root)
    services.cancel_result(second)
    personas.team.quota.keep_uploads_days = 1
    personas.team.quota.save()
    housekeeping.purge_expired()
    assert services.storage_used(personas.team.pk) == on_disk(media_root)
    assert housekeeping.find_drift() == {"orphans": [], "missing": []}


def test_the_drift_check_finds_and_fixes_an_orphan_and_a_missing_file(personas, tmp_path, media_root, capsys):
    job = make_job(personas, tmp_path)
    orphan = media_root / "teams" / str(personas.team.pk) / "uploads" / "left-behind.mp4"
    orphan.write_bytes(b"nobody points here")
    gone = job.results.get().video
    (media_root / gone.file.name).unlink()
    with pytest.raises(SystemExit):
        call_command("check_storage")
    report = capsys.readouterr().out
    assert f"orphan file: teams/{personas.team.pk}/uploads/left-behind.mp4" in report
    assert f"missing file: asset {gone.pk}: {gone.file.name}" in report
    call_command("check_storage", "--fix")
    assert not orphan.exists()
    assert housekeeping.find_drift()["orphans"] == []
    # The asset is still used by a queued job: reported, left for a person to decide.
    assert housekeeping.find_drift()["missing"] == [("asset", gone.pk, gone.file.name)]


def test_the_admin_disk_usage_page_shows_teams_users_and_free_space(client, admin_user, personas, tmp_path):
    make_job(personas, tmp_path)
    client.force_login(admin_user)
    page = client.get(reverse("admin-disk-usage")).content.decode()
    assert f'data-team="{personas.team.pk}"' in page and "Presenters" in page and "mei" in page
    assert "free of" in page and "Biggest items" in page
    assert "Disk usage" in client.get(reverse("admin:index")).content.decode()


def test_only_staff_see_the_disk_usage_page(client_for, personas):
    assert client_for(personas.owner).get(reverse("admin-disk-usage")).status_code == 302
