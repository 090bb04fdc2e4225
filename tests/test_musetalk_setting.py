"""MUSETALK_DIR (env HEYGEM_MUSETALK_DIR) reaches the engine: the actor, called directly, runs the MuseTalk
backend with generated weights in the official layout, and a missing or broken model fails the result with its
code instead of an internal error."""

import shutil
from pathlib import Path

import av
import cv2
import pytest

from inference.backends.musetalk import loaded, synthetic
from jobs.tasks import run_lipsync
from tests.conftest import shared
from tests.jobs_factories import make_job
from tests.media import write_audio

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = synthetic.write_models(tmp_path_factory.mktemp("musetalk") / "models")
    yield root
    loaded.clear()


@pytest.fixture(scope="module")
def short_face(tmp_path_factory):
    """0.4 s of a real face at 256x256, H.264 without sound: rendering stays short on 2 cores."""
    path = tmp_path_factory.mktemp("tpl") / "face.mp4"
    with av.open(str(shared("video/woman_glasses_524sq_25fps.mp4"))) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 10:
                break
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (256, 256), interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def run(personas, tmp_path, video, **options):
    audio = write_audio(tmp_path / "speech.wav", seconds=0.4)
    job = make_job(personas, tmp_path, videos=[Path(video)], audio=Path(audio), **options)
    result = job.results.get()
    run_lipsync.fn(result.pk)
    result.refresh_from_db()
    return job, result


def test_a_musetalk_job_runs_with_the_configured_models(personas, tmp_path, settings, models, short_face):
    settings.MUSETALK_DIR = str(models)
    settings.MUSETALK_BATCH = 4
    job, result = run(personas, tmp_path, short_face, backend="musetalk")
    assert result.state == "succeeded", (result.error_code, result.error_message)
    assert (result.backend_used, result.backend_reason) == ("musetalk", "requested")
    from jobs.api import ResultSerializer

    assert ResultSerializer(result).data["backend_reason"] == "requested"  # what the API gives
    event = job.events.get(kind="result.succeeded")  # what the job page lists
    assert event.data["backend"] == "musetalk" and event.data["reason"] == "requested"
    with av.open(result.output.path) as container:
        assert abs(container.duration / 1e6 - job.audio.duration_s) < 0.1


def test_a_musetalk_job_without_models_fails_as_model_unavailable(personas, tmp_path, settings, short_face):
    settings.MUSETALK_DIR = ""
    job, result = run(personas, tmp_path, short_face, backend="musetalk")
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert not result.output


def test_a_corrupt_model_file_fails_the_result_with_its_code(personas, tmp_path, settings, models, short_face):
    root = shutil.copytree(models, tmp_path / "models")
    (Path(root) / "face-parse-bisent" / "79999_iter.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    settings.MUSETALK_DIR = str(root)
    job, result = run(personas, tmp_path, short_face, backend="musetalk")
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "79999" not in result.error_message and not result.output
