"""``inference.generate`` with the Wav2Lip backend: backend choice, checkpoint errors, and a full CPU run.

The checkpoint is a randomly initialised generator saved here in the official training layout (``module.``
prefix, optimizer slot): its mouths are noise, which makes "what changed" easy to see. The template is a short
real clip from ../shared/media, encoded losslessly by the engine (crf 0) so that pixels outside the pasted
lower face can be compared exactly with the template's.
"""
import numpy as np
import pytest
import torch

import inference
from inference import media
from inference.backends.wav2lip import loaded
from inference.backends.wav2lip.generator import face_box
from inference.backends.wav2lip.nets import Wav2Lip
from inference.backends import choose

FPS = 25
AUDIO_S = 0.6  # the `speech` fixture's length; 15 output frames (a few crops per second on 2 cores)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip.pth"
    state = {"module." + k: v for k, v in Wav2Lip().state_dict().items()}
    torch.save({"state_dict": state, "optimizer": None, "global_step": 0, "global_epoch": 0}, path)
    yield str(path)
    loaded.clear()  # the model stays cached per process otherwise (it is ~145 MB)


@pytest.fixture(scope="module")
def template(tmp_path_factory, mk):
    """1.2 s of a real face at 256x256 (H.264, with its own speech): longer than the audio, so output frame i
    shows template frame i."""
    path = mk.media("woman_glasses_524sq_25fps.mp4")
    frames = mk.read_rgb(path, 30, 256)
    return mk.write_video(tmp_path_factory.mktemp("tpl") / "tpl.mp4", frames, fps=FPS,
                          audio=mk.read_pcm(path, 1.2))


@pytest.fixture(scope="module")
def run(tmp_path_factory, checkpoint, template, speech):
    out = tmp_path_factory.mktemp("out") / "out.mp4"
    stages = []
    report = inference.generate(template, speech, out,
                                inference.Config(backend="wav2lip", wav2lip_checkpoint=checkpoint, device="cpu",
                                                 crf=0, batch_size=8),
                                on_progress=lambda stage, *rest: stages.append(stage))
    return report, str(out), stages


def test_a_wav2lip_run_reports_the_backend_and_runs_on_cpu(run):
    report, _, stages = run
    assert report.backend == "wav2lip" and "requested" in report.backend_reason
    assert report.device == "cpu" and report.gpu_memory is None
    assert "render" in stages and stages[-1] == "finish"
    assert "model" in report.seconds
    import json

    json.dumps(report.to_dict())  # stored by the web side as JSON


def test_the_output_has_the_audios_length_within_a_frame(run, speech, mk):
    report, out, _ = run
    n_audio = AUDIO_S * FPS
    assert abs(report.frames_out - n_audio) <= 1
    frames = mk.decode_rgb(out)
    assert len(frames) == report.frames_out
    info = media.probe(out)
    assert info.has_audio and abs(info.duration_s - media.probe(speech).duration_s) <= 1.0 / FPS + 0.03


def test_only_the_lower_face_differs_from_the_template(run, template, mk):
    from inference.face import FaceTracker

    report, out, _ = run
    produced = mk.decode_rgb(out)
    info = media.probe(template)
    width, height, fps = media.video_geometry(info)
    tracker = FaceTracker(float(fps))
    try:
        # The same tracker over the same frames as the engine: the same smoothed landmarks.
        marks = []
        for i, frame in enumerate(media.iter_video_frames(info)):
            found = tracker.track(frame, width, height)
            marks.append(found[1] if found else None)
            if i + 1 == report.frames_out:
                break
    finally:
        tracker.close()
    originals = mk.decode_rgb(template)
    repainted = 0
    for i in (0, report.frames_out // 2, report.frames_out - 1):
        assert marks[i] is not None
        x0, y0, w, h = face_box(marks[i], width, height)
        diff = np.abs(produced[i].astype(np.int16) - originals[i].astype(np.int16)).max(axis=2)
        # The paste covers the lower half of the generator's box; 4 px of slack for chroma rows and rounding.
        box = (slice(max(0, y0 + h // 2 - 4), y0 + h + 4), slice(max(0, x0 - 4), x0 + w + 4))
        outside = diff.copy()
        outside[box] = 0
        assert outside.max() <= 2, f"frame {i}: pixels outside the lower face changed (max diff {outside.max()})"
        # The upper face (eyes, brows) in particular is the template's.
        assert diff[y0 : y0 + h // 2 - 4, x0 : x0 + w].max() <= 2
        repainted += (diff[box] > 10).mean() > 0.05
    assert repainted == 3, "the random generator should have repainted the mouth of every frame"


def test_auto_picks_wav2lip_when_a_checkpoint_is_configured(tmp_path, checkpoint, template, mk):
    samples = mk.read_pcm(mk.media("speech_44k_stereo_5s.wav"), 0.2)
    short = mk.write_audio(tmp_path / "short.wav", samples)
    report = inference.generate(template, short, tmp_path / "o.mp4",
                                inference.Config(wav2lip_checkpoint=checkpoint, device="cpu"))
    assert report.backend == "wav2lip"
    assert report.backend_reason == "a wav2lip checkpoint is configured"
    assert choose(inference.Config(wav2lip_checkpoint=checkpoint))[0].name == "wav2lip"
    assert choose(inference.Config())[0].name == "retrieval"
    assert choose(inference.Config(backend="warp", wav2lip_checkpoint=checkpoint))[0].name == "warp"


def test_wav2lip_without_a_checkpoint_is_unavailable(tmp_path, template, speech):
    with pytest.raises(inference.ModelUnavailable) as err:
        inference.generate(template, speech, tmp_path / "o.mp4", inference.Config(backend="wav2lip"))
    assert err.value.code == "model_unavailable"
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("backend", ["wav2lip", "auto"])
def test_a_file_that_is_not_a_checkpoint_fails_before_any_rendering(tmp_path, template, speech, backend):
    bad = tmp_path / "wav2lip.pth"
    bad.write_text("<html>Google Drive: virus scan warning</html>")
    stages = []
    with pytest.raises(inference.ModelUnavailable) as err:
        inference.generate(template, speech, tmp_path / "o.mp4",
                           inference.Config(backend=backend, wav2lip_checkpoint=str(bad), device="cpu"),
                           on_progress=lambda stage, *rest: stages.append(stage))
    assert err.value.code == "model_unavailable"
    assert "not a torch checkpoint" in err.value.detail and "virus" not in err.value.message
    assert set(stages) <= {"probe"}, "the checkpoint must be checked before tracking and rendering"
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.partial").exists()


def test_a_cancel_during_rendering_leaves_no_output(tmp_path, checkpoint, template, speech):
    seen = []

    def should_cancel():
        return "render" in seen

    with pytest.raises(inference.Cancelled):
        inference.generate(template, speech, tmp_path / "o.mp4",
                           inference.Config(backend="wav2lip", wav2lip_checkpoint=checkpoint, device="cpu",
                                            batch_size=4),
                           on_progress=lambda stage, *rest: seen.append(stage), should_cancel=should_cancel)
    assert "render" in seen
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.partial").exists()


def test_the_pads_must_be_four_numbers():
    with pytest.raises(ValueError):
        inference.Config(wav2lip_pads=(0, 10))
    assert inference.Config(wav2lip_pads=[0, 12.0, 0, 0]).wav2lip_pads == (0, 12, 0, 0)
