import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs import services
from jobs.models import JobEvent, Result
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:jobs_result_changelist"


def act(client, action, results):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [r.pk for r in results]},
                       follow=True)


def test_staff_cancel_retry_and_delete_through_the_admin(client, admin_user, personas, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "enqueue_result", lambda pk, seconds: None)
    job = make_job(personas, tmp_path, videos=["video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4"])
    first, second = job.results.order_by("pk")
    client.force_login(admin_user)
    assert "Cancelled 2 of 2" in act(client, "cancel", [first, second]).content.decode()
    assert set(Result.objects.values_list("state", flat=True)) == {"cancelled"}
    assert "Queued 1 of 1 again" in act(client, "retry", [first]).content.decode()
    first.refresh_from_db()
    assert (first.state, first.error_code, first.attempts) == ("queued", "", 0)
    act(client, "delete_with_files", [second])
    assert list(Result.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_results_page_shows_its_event_log(client, admin_user, personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    result = services.claim_result(result.pk)  # Progress is reported on the claim.
    services.report_progress(result, "render", 0.5, 10, 20, "Rendering frame 10 of 20")
    client.force_login(admin_user)
    page = client.get(reverse("admin:jobs_result_change", args=[result.pk])).content.decode()
    assert "result.running" in page and "Rendering frame 10 of 20" in page


def test_the_result_list_filters_and_searches(client, admin_user, personas, tmp_path):
    make_job(personas, tmp_path)
    client.force_login(admin_user)
    listing = client.get(reverse(CHANGELIST), {"q": "woman_glasses", "state__exact": "queued"}).content.decode()
    assert "woman_glasses_524sq_25fps.mp4" in listing and "Presenters" in listing
    assert "0 results" in client.get(reverse(CHANGELIST), {"state__exact": "failed"}).content.decode()


def test_actions_need_staff_and_the_model_permission(client, personas, tmp_path, django_user_model):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    client.force_login(personas.owner)  # A team owner is not staff.
    assert act(client, "cancel", [result]).redirect_chain[0][0].startswith(reverse("admin:login"))
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_result"))
    client.force_login(viewer)
    page = act(client, "cancel", [result]).content.decode()
    assert Result.objects.get(pk=result.pk).state == "queued"
    assert not JobEvent.objects.filter(kind="result.cancelled").exists()
    assert 'value="cancel"' not in page  # The action is not offered without the change permission.
