"""The job page's "time left", against a fake slow engine that reports stages and frames the way the
real one does, through the worker's real Reporter, on a simulated clock (no test waits a minute).

The machine's speed per stage is learnt from an earlier video on the same server (jobs/pace.py);
this run goes 15 % slower than that one, with jitter, as a busy machine would.
"""

import random
from datetime import timedelta

import pytest

from jobs import services, tasks
from jobs.models import JobEvent
from jobs.pace import frame_counts
from tests.browser import browser, collected_static, sign_in, wait_until, watch, web_server  # noqa: F401 (fixtures)
from tests.jobs_factories import finish, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Seconds per unit of work on the fake machine: the probe once (models load), tracking per template
# frame, the others per output frame. Rendering dominates, as on a CPU.
MACHINE = {"probe": 2.5, "audio": 0.002, "track": 0.06, "select": 0.001, "render": 0.025, "finish": 0.0015}
MESSAGES = {"probe": "Reading the files", "audio": "Listening to the audio", "select": "Choosing mouth shapes",
            "finish": "Saving"}


def stage_units(stage, template_frames, output_frames):
    return 1 if stage == "probe" else template_frames if stage == "track" else output_frames


def run_fake_engine(reporter, clock, template_frames, output_frames, slower=1.0, seed=14):
    """Drives `reporter` like inference.generate would, advancing `clock` by the machine's speed."""
    rng = random.Random(seed)
    for stage, per_unit in MACHINE.items():
        units = stage_units(stage, template_frames, output_frames)
        if stage in ("track", "render"):
            for i in range(units):
                # The engine's shape: (stage, fraction, done, total, note), counters as numbers.
                reporter.on_progress(stage, i / units, i + 1, units, "")
                clock[0] += per_unit * slower * rng.uniform(0.9, 1.1)
        else:
            reporter.on_progress(stage, 0.0, 0, 0, MESSAGES[stage])
            clock[0] += per_unit * units * slower
            reporter.on_progress(stage, 1.0, 0, 0, MESSAGES[stage])
    return clock[0]


def simulate(monkeypatch, result, slower=1.0):
    """Runs the fake engine for `result` and returns (reports as the page gets them, seconds it took)."""
    clock, reports = [0.0], []
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(tasks.services, "log_line", lambda *args, **kwargs: None)

    def report_progress(result, stage, fraction, frames_done=0, frames_total=0, message=""):
        reports.append({"t": clock[0], "stage": stage, "progress": round(fraction, 4), "frames_done": frames_done,
                        "frames_total": frames_total})
        return True
    monkeypatch.setattr(tasks.services, "report_progress", report_progress)
    template_frames, output_frames = frame_counts(result)
    total = run_fake_engine(tasks.Reporter(result, interval=1.0), clock, template_frames, output_frames, slower)
    monkeypatch.undo()
    return reports, total


@pytest.fixture
def slow_job(personas, tmp_path, monkeypatch):
    # Yesterday's video on this server: a short one, at the machine's usual speed.
    earlier = make_job(personas, tmp_path, videos=["video/woman_blue_700sq_30fps.mp4"],
                       audio="audio/speech_16k_mono_10s.wav").results.get()
    template_frames, output_frames = frame_counts(earlier)
    finish(earlier, tmp_path, seconds={stage: per_unit * stage_units(stage, template_frames, output_frames)
                                       for stage, per_unit in MACHINE.items()})
    # Today's: a minute of speech over a 5 s template, 15 % slower.
    result = make_job(personas, tmp_path, videos=["video/woman_glasses_524sq_25fps.mp4"],
                      audio="audio/speech_eng_16k_mono_60s.wav").results.get()
    reports, total = simulate(monkeypatch, result, slower=1.15)
    assert 50 < total < 75, total  # "a 60 s job"
    return result, reports, total


def test_time_left_is_within_30_percent_from_20_percent_on(browser, web_server, personas, slow_job):
    result, reports, total = slow_job
    # The page's inputs: the stage pace it is given and the result's frame counts, read from the page.
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    sign_in(page, "mei")

    # Part 1: the page itself, after a reload half-way through: it replays the job's events and
    # shows the time left as of the last one.
    claimed = services.claim_result(result.pk)
    start = claimed.started_at
    half = [r for r in reports if r["progress"] <= 0.5]
    for report in half:
        services.report_progress(claimed, report["stage"], report["progress"], report["frames_done"],
                                 report["frames_total"])
    events = list(JobEvent.objects.filter(result=result, kind="result.progress").order_by("seq"))
    assert len(events) == len(half)
    for event, report in zip(events, half):
        JobEvent.objects.filter(pk=event.pk).update(created_at=start + timedelta(seconds=report["t"]))
    page.goto(f"{page.base}/jobs/{result.job_id}/")
    card = page.locator(f"#result-{result.pk}")
    wait_until(page, f"document.getElementById('result-{result.pk}').dataset.secondsLeft > 0")
    shown = float(card.get_attribute("data-seconds-left"))
    truth = total - half[-1]["t"]
    assert abs(shown - truth) <= 0.3 * truth, (shown, truth)
    assert "left" in card.locator(".times").inner_text()

    # Part 2: every report from 20 % on, through the page's own estimator with the page's inputs.
    estimates = page.evaluate("""([id, reports]) => {
      const node = document.getElementById('result-' + id);
      const pace = JSON.parse(document.getElementById('stage-pace').textContent);
      const eta = HeyGemEta.create(pace, {template: Number(node.dataset.templateFrames), output: Number(node.dataset.outputFrames)});
      return reports.map(report => eta.update(report, report.t));
    }""", [result.pk, reports])
    checked = 0
    for report, estimate in zip(reports, estimates):
        truth = total - report["t"]
        if report["progress"] >= 0.2 and truth > 1:
            assert abs(estimate - truth) <= 0.3 * truth, (report, estimate, truth)
            checked += 1
    assert checked >= 40

    # The scenario does show the old bug: extrapolating the overall percentage is far off.
    linear = [(r["t"] * (1 - r["progress"]) / r["progress"], total - r["t"]) for r in reports
              if 0.2 <= r["progress"] <= 0.6]
    assert any(abs(guess - truth) > 0.3 * truth for guess, truth in linear)
    context.close()
    assert errors == []
