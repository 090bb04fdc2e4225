"""Assets and jobs made directly through the services, for tests that start past the upload."""

import shutil

from jobs import services
from tests.conftest import shared

VIDEOS = ["video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4",
          "video/woman_closeup_512sq_25fps_mpeg4.mp4"]
AUDIO = "audio/speech_44k_stereo_5s.wav"


def ingest(personas, tmp_path, name, user=None, kind=None, display=None):
    """Stores a copy of a shared clip (ingest moves the file it is given)."""
    source = shared(name) if not str(name).startswith("/") else name
    copy = tmp_path / f"in-{len(list(tmp_path.iterdir()))}-{source.name}"
    shutil.copy(source, copy)
    return services.ingest_file(personas.team, user or personas.member, copy, display or source.name, kind)


def make_job(personas, tmp_path, videos=VIDEOS[:1], audio=AUDIO, user=None, **options):
    user = user or personas.member
    audio_asset = ingest(personas, tmp_path, audio, user=user, kind="audio")
    video_assets = [ingest(personas, tmp_path, v, user=user, kind="video") for v in videos]
    job, _ = services.create_job(user, personas.team, audio_asset, video_assets, **options)
    return job
