"""How fast this server runs each engine stage, learnt from its recent finished videos, so the job
page can say how long a running video still needs.

Each stage's cost grows with a different count: tracking with the template's frames, choosing,
rendering and saving with the output's frames, listening with the voice's length; reading the
files (and loading models) costs about the same every time. The page measures how fast the
current stage goes today and scales these figures by it (static/js/eta.js).
"""

from statistics import median

from jobs.models import Result

# Seconds per unit on the benchmark machine (docs/benchmarks.md, 1080p 30 s: 750 frames), used
# until this server has finished videos of its own.
DEFAULT_PACE = {"probe": 1.0, "audio": 0.00023, "speak": 0.004, "track": 0.0049, "select": 0.00016,
                "render": 0.0141, "finish": 0.0005}
RECENT = 20


def units(stage, template_frames, output_frames):
    """How many units of work `stage` has for a video (see the module docstring)."""
    if stage == "probe":
        return 1
    if stage == "track":
        return template_frames
    return output_frames


def frame_counts(result):
    """(template frames, expected output frames) of a result, from its inputs' probed facts."""
    video, audio, policy = result.video, result.job.audio, result.job.length_policy
    fps = video.fps or 25.0
    template_frames = max(1, round(video.duration_s * fps))
    # A typed script has no audio until it is spoken: its estimated length (the minutes reserved) stands in.
    spoken = audio.duration_s if audio is not None else result.minutes * 60.0
    seconds = min(spoken, video.duration_s) if policy == "cut" else spoken
    return template_frames, max(1, round(seconds * fps))


def recent_pace(limit=RECENT):
    """Median seconds per unit of each stage over the server's last `limit` finished videos."""
    samples = {stage: [] for stage in DEFAULT_PACE}
    finished = (Result.objects.filter(state=Result.State.SUCCEEDED).exclude(timings={})
                .select_related("video", "job__audio").order_by("-finished_at")[:limit])
    for result in finished:
        template_frames, output_frames = frame_counts(result)
        timings = dict(result.timings)
        # Models load while the page still shows "Reading the files".
        timings["probe"] = timings.get("probe", 0) + timings.pop("model", 0)
        for stage, seconds in timings.items():
            if stage in samples and isinstance(seconds, (int, float)) and seconds > 0:
                samples[stage].append(seconds / units(stage, template_frames, output_frames))
    return {stage: round(median(values), 6) if values else DEFAULT_PACE[stage] for stage, values in samples.items()}
