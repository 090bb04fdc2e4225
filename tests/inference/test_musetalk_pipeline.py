"""``python -m inference generate --backend musetalk`` end to end on CPU with generated weights, the backend
choice under ``auto``, and model errors raised before any media work.

The template is a short real clip re-encoded losslessly so the pixels outside the paste can be compared exactly;
the generated networks paint noise, which makes "what changed" easy to see.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import inference
from inference import media
from inference.__main__ import main
from inference.backends import choose
from inference.backends.musetalk.render import face_bbox

FPS = 25
AUDIO_S = 0.4  # the `speech` fixture's length: 10 output frames


@pytest.fixture(scope="module")
def template(tmp_path_factory, mk):
    """12 frames of a real face at 256x256 (H.264, lossless)."""
    frames = mk.read_rgb(mk.media("woman_glasses_524sq_25fps.mp4"), 12, 256)
    return mk.write_video(tmp_path_factory.mktemp("tpl") / "tpl.mp4", frames, fps=FPS)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, musetalk_models, template, speech):
    out = tmp_path_factory.mktemp("out") / "out.mp4"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["generate", "--video", template, "--audio", speech, "--out", str(out), "--backend", "musetalk",
                     "--musetalk-dir", musetalk_models, "--musetalk-batch", "4", "--device", "cpu", "--crf", "0",
                     "--quiet"])
    return code, json.loads(printed.getvalue()), str(out)


def test_the_cli_runs_musetalk_on_cpu_and_reports_it(cli_run, speech):
    code, report, out = cli_run
    assert code == 0
    assert report["backend"] == "musetalk" and report["backend_reason"] == "requested"
    assert report["device"] == "cpu" and report["gpu_memory"] is None
    assert report["frames_out"] == round(AUDIO_S * FPS) and report["frames_kept_own_mouth"] == 0
    assert "model" in report["seconds"]
    info = media.probe(out)
    assert info.has_audio and abs(info.duration_s - media.probe(speech).duration_s) <= 1.0 / FPS + 0.03


def test_only_the_lower_face_differs_from_the_template(cli_run, template, mk):
    from inference.face import FaceTracker

    _, report, out = cli_run
    produced, originals = mk.decode_rgb(out), mk.decode_rgb(template)
    assert len(produced) == report["frames_out"]
    info = media.probe(template)
    tracker = FaceTracker(float(FPS))
    try:  # the engine's own tracker over the same frames: the same smoothed landmarks, the same boxes
        marks = [tracker.track(f, 256, 256)[1] for f in media.iter_video_frames(info)]
    finally:
        tracker.close()
    for i in (0, 5, 9):
        x1, y1, x2, y2 = face_bbox(marks[i], 256, 256)
        diff = np.abs(produced[i].astype(int) - originals[i]).max(axis=2)
        # The blend covers the lower half of the crop box inside the face box, feathered by a few pixels.
        s = int(max(x2 - x1, y2 - y1) // 2 * 1.5)
        yc = (y1 + y2) // 2
        lower_box = np.zeros_like(diff, bool)
        lower_box[max(yc - 6, y1 - 6) : y2 + 6, max(x1 - 6, 0) : x2 + 6] = True
        assert diff[~lower_box].max() <= 2, f"frame {i}: pixels outside the jaw area changed"
        assert diff[: max(yc - s // 2, 0)].max() <= 2  # eyes and brows are the template's
        assert (diff[lower_box] > 10).mean() > 0.1, "the generated network should have repainted the mouth"


def test_auto_takes_musetalk_on_a_gpu_worker_then_wav2lip_then_the_cpu_engine(musetalk_models, tmp_path):
    both = dict(musetalk_dir=musetalk_models, wav2lip_checkpoint=str(tmp_path / "w.pth"))
    cls, reason = choose(inference.Config(device="cuda", **both))
    assert cls.name == "musetalk" and "GPU" in reason
    assert choose(inference.Config(device="cpu", **both))[0].name == "wav2lip"
    assert choose(inference.Config(device="cpu", musetalk_dir=musetalk_models))[0].name == "retrieval"
    assert choose(inference.Config(device="cuda"))[0].name == "retrieval"
    assert choose(inference.Config(backend="musetalk", device="cpu", musetalk_dir=musetalk_models))[0].name == \
        "musetalk"  # asked for by name it runs on CPU too


def test_musetalk_without_a_model_directory_is_unavailable(tmp_path, template, speech):
    with pytest.raises(inference.ModelUnavailable) as err:
        inference.generate(template, speech, tmp_path / "o.mp4", inference.Config(backend="musetalk"))
    assert err.value.code == "model_unavailable" and not (tmp_path / "o.mp4").exists()


def test_a_corrupt_unet_fails_before_any_media_work(tmp_path, musetalk_models, template, speech):
    root = shutil.copytree(musetalk_models, tmp_path / "models")
    (Path(root) / "musetalkV15" / "unet.pth").write_text("<html>404</html>")
    stages = []
    with pytest.raises(inference.ModelUnavailable) as err:
        inference.generate(template, speech, tmp_path / "o.mp4",
                           inference.Config(backend="musetalk", musetalk_dir=str(root), device="cpu"),
                           on_progress=lambda stage, *rest: stages.append(str(stage)))
    assert "unet.pth" in err.value.detail and "unet.pth" not in err.value.message
    assert set(stages) <= {"probe"}, "the model must be checked before tracking and rendering"
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.partial").exists()


def test_the_cli_reports_a_missing_model_with_its_code(tmp_path, template, speech, capsys):
    code = main(["generate", "--video", template, "--audio", speech, "--out", str(tmp_path / "o.mp4"),
                 "--backend", "musetalk", "--musetalk-dir", str(tmp_path / "nowhere"), "--quiet"])
    assert code == 2 and "model_unavailable" in capsys.readouterr().err


def test_the_batch_must_be_positive():
    with pytest.raises(ValueError):
        inference.Config(musetalk_batch=0)
