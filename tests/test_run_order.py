"""A job's videos start in the order of their cards, whichever message a worker thread takes first."""

import pytest

import inference
from jobs import services, tasks
from jobs.models import Result
from tests.jobs_factories import VIDEOS, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(personas, tmp_path):
    return list(make_job(personas, tmp_path, videos=VIDEOS).results.order_by("pk"))


def test_each_message_claims_the_jobs_first_queued_video(three):
    first, second, third = three
    # Two threads took the messages of the second and first card, in that order.
    assert services.claim_result(second.pk).pk == first.pk
    assert services.claim_result(first.pk).pk == second.pk
    assert services.claim_result(third.pk).pk == third.pk
    assert services.claim_result(third.pk) is None  # Every video is claimed once, no more.


def test_a_cancelled_card_is_skipped_and_the_counts_still_match(three):
    first, second, third = three
    services.cancel_result(first)
    assert [services.claim_result(r.pk).pk for r in (first, second)] == [second.pk, third.pk]
    assert services.claim_result(third.pk) is None


def test_the_worker_fails_the_video_it_claimed_not_the_one_its_message_named(three, monkeypatch):
    first, second, _ = three

    def no_face(*args, **kwargs):
        raise inference.NoFace("test")
    monkeypatch.setattr(tasks.inference, "generate", no_face)
    tasks.run_lipsync.fn(second.pk)
    states = dict(Result.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "state"))
    assert states == {first.pk: "failed", second.pk: "queued"}
