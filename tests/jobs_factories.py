"""Assets and jobs made directly through the services, for tests that start past the upload."""

import shutil

from jobs import services
from tests.conftest import shared

VIDEOS = ["video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4",
          "video/woman_closeup_512sq_25fps_mpeg4.mp4"]
AUDIO = "audio/speech_44k_stereo_5s.wav"


def ingest(personas, tmp_path, name, user=None, kind=None, display=None, team=None):
    """Stores a copy of a shared clip (ingest moves the file it is given)."""
    source = shared(name) if not str(name).startswith("/") else name
    copy = tmp_path / f"in-{len(list(tmp_path.iterdir()))}-{source.name}"
    shutil.copy(source, copy)
    return services.ingest_file(team or personas.team, user or personas.member, copy, display or source.name, kind)


def make_job(personas, tmp_path, videos=VIDEOS[:1], audio=AUDIO, user=None, team=None, **options):
    """A job of `user` (the team's member) in `team` (personas.team) over shared clips."""
    user, team = user or personas.member, team or personas.team
    audio_asset = ingest(personas, tmp_path, audio, user=user, kind="audio", team=team)
    video_assets = [ingest(personas, tmp_path, v, user=user, kind="video", team=team) for v in videos]
    job, _ = services.create_job(user, team, audio_asset, video_assets, **options)
    return job


def finish(result, tmp_path, video=VIDEOS[0], seconds=None):
    """Takes a queued result through the services to SUCCEEDED, with a shared clip as its output."""
    from types import SimpleNamespace

    from jobs.media import make_thumbnail

    claimed = services.claim_result(result.pk)
    assert claimed.pk == result.pk, "finish a job's videos in the order of their cards"
    output = tmp_path / f"out-{result.pk}.mp4"
    shutil.copy(shared(video), output)
    poster = make_thumbnail(output, tmp_path / f"poster-{result.pk}.jpg")
    report = SimpleNamespace(output_duration_s=5.0, backend="retrieval", backend_reason="test", face_coverage=1.0,
                             seconds=seconds or {"probe": 0.1, "audio": 0.2, "track": 1.0, "select": 0.1,
                                                 "render": 2.5, "finish": 0.1})
    services.finish_result(claimed, output, poster, report)
    result.refresh_from_db()
    return result
