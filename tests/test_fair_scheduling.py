"""Interactive before bulk, and fair between teams: a single video started at the workspace does not wait
behind a batch, and the videos of two teams' batches take turns (jobs/run_order.py)."""

import signal
import time

import pytest

from jobs import queue, services
from jobs.models import Result
from tests.jobs_factories import VIDEOS, make_job
from tests.media import write_audio, write_video
from tests.processes import Worker


def claim_all(job_of_message):
    """Claims until nothing is left, each with a message of the batch's queue; the claimed jobs in order."""
    order = []
    while (result := services.claim_result(job_of_message.results.first().pk, queue.ANYWHERE)) is not None:
        order.append(result.job_id)
        services.fail_result(result.pk, "no_face", attempt=result.attempts)  # done: the thread is free again
    return order


@pytest.mark.django_db
def test_a_single_video_goes_before_the_rest_of_a_batch_already_running(personas, tmp_path):
    batch = make_job(personas, tmp_path, videos=VIDEOS)
    first = services.claim_result(batch.results.first().pk, queue.ANYWHERE)
    single = make_job(personas, tmp_path, team=personas.other_team, user=personas.outsider)
    # The next free thread takes a message of the batch (it was queued first) and starts the single video.
    assert services.claim_result(batch.results.last().pk, queue.ANYWHERE).job_id == single.pk
    assert first.job_id == batch.pk


@pytest.mark.django_db
def test_two_teams_batches_take_turns(personas, tmp_path):
    first = make_job(personas, tmp_path, videos=VIDEOS)
    second = make_job(personas, tmp_path, videos=VIDEOS, team=personas.other_team, user=personas.outsider)
    assert claim_all(first) == [first.pk, second.pk] * 3


@pytest.mark.django_db
def test_a_team_with_videos_running_waits_for_a_team_with_none(personas, tmp_path):
    first = make_job(personas, tmp_path, videos=VIDEOS)
    second = make_job(personas, tmp_path, videos=VIDEOS, team=personas.other_team, user=personas.outsider)
    # Two threads: the first team's video runs on one; the other thread serves the second team.
    assert services.claim_result(first.results.first().pk, queue.ANYWHERE).job_id == first.pk
    assert services.claim_result(first.results.first().pk, queue.ANYWHERE).job_id == second.pk
    # With one running each, the team that started longest ago goes next.
    assert services.claim_result(first.results.first().pk, queue.ANYWHERE).job_id == first.pk


@pytest.mark.django_db
def test_a_job_still_waiting_for_its_speech_is_not_started(personas, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "check_script", lambda text, voice, speed=1.0: 5.0)
    user = personas.member
    video = make_job(personas, tmp_path).results.get().video
    services.create_job(user, personas.team, None, [video], script={"text": "Hello.", "voice": "en"})
    claimed = [services.claim_result(video.video_results.first().pk, queue.ANYWHERE) for _ in range(2)]
    assert claimed[0] is not None and claimed[1] is None  # the script job's video waits for its audio


def stored(personas, team, user, path, kind):
    return services.ingest_file(team, user, path, path.name, kind)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_starts_the_single_video_first_then_takes_turns_between_teams(personas, tmp_path,
                                                                                      media_root):
    teams = [(personas.team, personas.member), (personas.other_team, personas.outsider)]
    jobs = []
    for index, (team, user) in enumerate(teams):
        audio = stored(personas, team, user, write_audio(tmp_path / f"voice-{index}.wav", 1.0), "audio")
        # Colour bars (no face): each video fails in a second or two, which is all the order needs.
        videos = [stored(personas, team, user, write_video(tmp_path / f"bars-{index}-{n}.mp4", 1.0 + n / 25), "video")
                  for n in range(4)]
        jobs.append(services.create_job(user, team, audio, videos[:3])[0])
        if index == 1:
            single, _ = services.create_job(user, team, audio, videos[3:])  # queued last of all
        else:
            gpu_only, _ = services.create_job(user, team, audio, videos[3:], backend="musetalk")
    team_of = {job.pk: job.team_id for job in jobs + [single]}
    worker = Worker(media_root, threads=1, env={"HEYGEM_WORKER_GPU": "no",
                                                "HEYGEM_MUSETALK_DIR": str(tmp_path)}).start()
    try:
        deadline = time.monotonic() + 300
        while Result.objects.filter(job__in=jobs + [single], state__in=Result.ACTIVE).exists():
            assert time.monotonic() < deadline, "".join(worker.lines[-30:])
            time.sleep(0.5)
    finally:
        worker.kill(signal.SIGTERM)
    started = list(Result.objects.exclude(started_at=None).order_by("started_at").values_list("job_id", flat=True))
    first, second = personas.team.pk, personas.other_team.pk
    assert started[0] == single.pk
    assert [team_of[job_id] for job_id in started[1:]] == [first, second] * 3
    waiting = gpu_only.results.get()
    assert (waiting.state, waiting.attempts) == (Result.State.QUEUED, 0), "a CPU worker took a GPU-only video"
