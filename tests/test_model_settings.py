"""The neural models' settings reach the engine: MUSETALK_DIR (env HEYGEM_MUSETALK_DIR), WAV2LIP_CHECKPOINT
(env HEYGEM_WAV2LIP_CHECKPOINT) and WAV2VEC2_MODEL. The actor, called directly, runs each backend with weights
generated here (MuseTalk's in the official layout, Wav2Lip's in the official training layout), and a missing or
broken model fails the result with its code instead of an internal error."""

import shutil
from pathlib import Path

import av
import cv2
import pytest
import torch

from inference.backends.musetalk import loaded as musetalk_loaded
from inference.backends.musetalk import synthetic
from inference.backends.wav2lip import loaded as wav2lip_loaded
from inference.backends.wav2lip.nets import Wav2Lip
from jobs.tasks import run_lipsync
from tests.conftest import shared
from tests.jobs_factories import make_job
from tests.media import write_audio

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def musetalk_models(tmp_path_factory):
    root = synthetic.write_models(tmp_path_factory.mktemp("musetalk") / "models")
    yield root
    musetalk_loaded.clear()


@pytest.fixture(scope="module")
def wav2lip_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip.pth"
    # The official training layout: DataParallel's "module." prefix and an optimizer slot.
    torch.save({"state_dict": {"module." + k: v for k, v in Wav2Lip().state_dict().items()}, "optimizer": None,
                "global_step": 0, "global_epoch": 0}, path)
    yield path
    wav2lip_loaded.clear()


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


def assert_lasts_as_long_as_the_audio(job, result):
    with av.open(result.output.path) as container:
        assert abs(container.duration / 1e6 - job.audio.duration_s) < 0.1


def test_a_musetalk_job_runs_with_the_configured_models(personas, tmp_path, settings, musetalk_models, short_face):
    settings.MUSETALK_DIR = str(musetalk_models)
    settings.MUSETALK_BATCH = 4
    job, result = run(personas, tmp_path, short_face, backend="musetalk")
    assert result.state == "succeeded", (result.error_code, result.error_message)
    assert (result.backend_used, result.backend_reason) == ("musetalk", "requested")
    from jobs.api import ResultSerializer

    assert ResultSerializer(result).data["backend_reason"] == "requested"  # what the API gives
    event = job.events.get(kind="result.succeeded")  # what the job page lists
    assert event.data["backend"] == "musetalk" and event.data["reason"] == "requested"
    assert_lasts_as_long_as_the_audio(job, result)


def test_an_auto_job_uses_wav2lip_when_a_checkpoint_is_configured(personas, tmp_path, settings, wav2lip_checkpoint,
                                                                   short_face):
    settings.WAV2LIP_CHECKPOINT = str(wav2lip_checkpoint)
    job, result = run(personas, tmp_path, short_face)
    assert result.state == "succeeded", (result.error_code, result.error_message)
    assert result.backend_used == "wav2lip"
    assert_lasts_as_long_as_the_audio(job, result)


@pytest.mark.parametrize("backend, setting", [("musetalk", "MUSETALK_DIR"), ("wav2lip", "WAV2LIP_CHECKPOINT")])
def test_a_job_without_its_model_fails_as_model_unavailable(personas, tmp_path, settings, short_face, backend,
                                                            setting):
    setattr(settings, setting, "")
    job, result = run(personas, tmp_path, short_face, backend=backend)
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "not installed on this server" in result.error_message and not result.output


def broken_musetalk(request, tmp_path):
    """A copy of the generated models whose face parser is a truncated zip (a download cut short)."""
    root = shutil.copytree(request.getfixturevalue("musetalk_models"), tmp_path / "models")
    (Path(root) / "face-parse-bisent" / "79999_iter.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    return str(root), "79999"


def broken_wav2lip(request, tmp_path):
    """A "checkpoint" that is the web page a download link answered with."""
    bad = tmp_path / "wav2lip.pth"
    bad.write_text("<html>Google Drive: virus scan warning</html>")
    return str(bad), "Google"


@pytest.mark.parametrize("backend, setting, broken", [("musetalk", "MUSETALK_DIR", broken_musetalk),
                                                      ("wav2lip", "WAV2LIP_CHECKPOINT", broken_wav2lip)])
def test_a_broken_model_file_fails_the_result_with_its_code(personas, tmp_path, settings, short_face, request,
                                                             backend, setting, broken):
    path, detail = broken(request, tmp_path)
    setattr(settings, setting, path)
    job, result = run(personas, tmp_path, short_face, backend=backend)
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert detail not in result.error_message and not result.output


def test_a_wav2vec2_setting_without_a_model_fails_a_retrieval_job_as_model_unavailable(personas, tmp_path, settings,
                                                                                     short_face):
    (tmp_path / "w2v").mkdir()  # an operator's typo: the directory exists but holds no model
    settings.WAV2LIP_CHECKPOINT = ""
    settings.WAV2VEC2_MODEL = str(tmp_path / "w2v")
    job, result = run(personas, tmp_path, short_face, backend="retrieval")
    assert (result.state, result.error_code) == ("failed", "model_unavailable")
    assert "w2v" not in result.error_message and not result.output
