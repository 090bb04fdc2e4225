"""Running a failed video again from the gallery or the player, within the team's quota; and where
a queued video stands in line."""

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import JobEvent, Result
from tests.browser import browser, collected_static, sign_in, wait_until, watch, web_server  # noqa: F401 (fixtures)
from tests.jobs_factories import VIDEOS, make_job


def failed(personas, tmp_path, code="no_face", **options):
    result = make_job(personas, tmp_path, **options).results.get()
    services.fail_result(result.pk, code)
    return result


@pytest.mark.django_db
def test_a_failed_video_runs_again_for_its_owner(api_for, personas, tmp_path):
    result = failed(personas, tmp_path)
    response = api_for(personas.member).post(reverse("api-result-retry", args=[result.pk]))
    assert response.status_code == 200 and response.json()["state"] == "queued" and response.json()["error"] is None
    event = JobEvent.objects.filter(result=result).order_by("-seq").first()
    assert (event.kind, event.data) == ("result.requeued", {"reason": "retry"})
    assert api_for(personas.outsider).post(reverse("api-result-retry", args=[result.pk])).status_code == 404


@pytest.mark.django_db
def test_only_a_failed_or_cancelled_video_runs_again_and_the_refusal_is_translated(api_for, personas, tmp_path):
    queued = make_job(personas, tmp_path).results.get()
    response = api_for(personas.member).post(reverse("api-result-retry", args=[queued.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "not_retryable", "message": "只有失败或已取消的视频才能重新运行。"}


@pytest.mark.django_db
def test_a_retry_counts_against_the_monthly_minutes(api_for, personas, tmp_path):
    result = failed(personas, tmp_path)
    quota = personas.team.quota
    quota.monthly_minutes = 0
    quota.save()
    response = api_for(personas.member).post(reverse("api-result-retry", args=[result.pk]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "quota_minutes"
    assert Result.objects.get(pk=result.pk).state == "failed"


@pytest.mark.django_db
def test_queued_videos_show_how_many_go_before_them(client_for, personas, tmp_path):
    first = make_job(personas, tmp_path, user=personas.admin).results.get()  # Another member's, earlier.
    mine = list(make_job(personas, tmp_path, videos=VIDEOS[:2]).results.order_by("pk"))
    services.claim_result(first.pk)  # Running now: no longer in the queue.
    page = client_for(personas.member).get(reverse("gallery")).content.decode()
    assert "Next in the queue" in page and "1 video ahead in the queue" in page
    job_page = client_for(personas.member).get(reverse("job", args=[mine[0].job_id])).content.decode()
    assert job_page.index("Next in the queue") < job_page.index("1 video ahead in the queue")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_retry_button_requeues_and_opens_the_job(browser, web_server, personas, tmp_path):
    result = failed(personas, tmp_path)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    sign_in(page, "mei")
    page.goto(page.base + reverse("gallery"))
    page.click(f'.tile[data-result="{result.pk}"] button.retry')
    page.wait_for_url(f"**/jobs/{result.job_id}/")
    wait_until(page, f"document.querySelector('#result-{result.pk} .log').textContent.includes('Queued again')")
    assert page.get_attribute(f"#result-{result.pk}", "data-state") == "queued"
    # The job had finished; running again, it is followed live once more.
    wait_until(page, "document.getElementById('connection').dataset.state === 'live'")
    context.close()
    assert errors == []
