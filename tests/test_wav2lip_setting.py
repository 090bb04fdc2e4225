"""WAV2LIP_CHECKPOINT (env HEYGEM_WAV2LIP_CHECKPOINT) reaches the engine: the actor, called directly, runs the
neural backend with a random-weight checkpoint written here, and a missing or broken one fails the result with
its code instead of an internal error."""

from pathlib import Path

import av
import cv2
import pytest
import torch

from inference.backends.wav2lip import loaded
from inference.backends.wav2lip.nets import Wav2Lip
from jobs.tasks import run_lipsync
from tests.conftest import shared
from tests.jobs_factories import make_job
from tests.media import write_audio

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip.pth"
    # The official training layout: DataParallel's "module." prefix and an optimizer slot.
    torch.save({"state_dict": {"module." + k: v for k, v in Wav2Lip().state_dict().items()}, "optimizer": None,
                "global_step": 0, "global_epoch": 0}, path)
    yield path
    loaded.clear()


@pytest.fixture(scope="module")
def short_face(tmp_path_factory):
    """0.8 s of a real face at 256x256, H.264 without sound: rendering stays a few seconds on 2 cores."""
    path = tmp_path_factory.mktemp("tpl") / "face.mp4"
    with av.open(str(shared("video/woman_glasses_524sq_25fps.mp4"))) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 20:
                break
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (256, 256), interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def job_for(personas, tmp_path, video, **options):
    audio = write_audio(tmp_path / "speech.wav", seconds=0.5)
    return make_job(personas, tmp_path, videos=[Path(video)], audio=Path(audio), **options)


def run(result):
    run_lipsync.fn(result.pk)
    result.refresh_from_db()
    return result


def test_an_auto_job_uses_wav2lip_when_a_checkpoint_is_configured(personas, tmp_path, settings, checkpoint,
                                                                   short_face):
    settings.WAV2LIP_CHECKPOINT = str(checkpoint)
    job = job_for(personas, tmp_path, short_face)
    result = run(job.results.get())
    assert result.state == "succeeded", (result.error_code, result.error_message)
    assert result.backend_used == "wav2lip"
    with av.open(result.output.path) as container:
        assert abs(container.duration / 1e6 - job.audio.duration_s) < 0.1


def test_a_wav2lip_job_without_a_checkpoint_fails_as_model_unavailable(personas, tmp_path, settings, short_face):
    settings.WAV2LIP_CHECKPOINT = ""
    job = job_for(personas, tmp_path, short_face, backend="wav2lip")
    result = run(job.results.get())
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "not installed on this server" in result.error_message and not result.output


def test_a_checkpoint_that_is_not_a_model_fails_the_result_with_its_code(personas, tmp_path, settings, short_face):
    bad = tmp_path / "wav2lip.pth"
    bad.write_text("<html>Google Drive: virus scan warning</html>")
    settings.WAV2LIP_CHECKPOINT = str(bad)
    job = job_for(personas, tmp_path, short_face)
    result = run(job.results.get())
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "Google" not in result.error_message


def test_a_wav2vec2_setting_without_a_model_fails_a_retrieval_job_as_model_unavailable(personas, tmp_path, settings,
                                                                                     short_face):
    (tmp_path / "w2v").mkdir()  # an operator's typo: the directory exists but holds no model
    settings.WAV2LIP_CHECKPOINT = ""
    settings.WAV2VEC2_MODEL = str(tmp_path / "w2v")
    job = job_for(personas, tmp_path, short_face, backend="retrieval")
    result = run(job.results.get())
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "w2v" not in result.error_message and not result.output
