"""The retrieval mouth as a viewer sees it: it closes where no template frame is closed, keeps moving through a
recogniser failure, works from a short template, and never pastes outside the face on a fast head move."""
from __future__ import annotations

import numpy as np
import pytest

import inference
from inference.face import FACE_OVAL, FaceTracker, interocular, mouth_shape
from inference.media import iter_video_frames, video_geometry

FAST = dict(preset="ultrafast")


def _track(path):
    """Raw landmarks (or None) and aperture of every frame of a video, and its frames as RGB."""
    import cv2

    info = inference.probe(path)
    w, h, fps = video_geometry(info)
    tracker = FaceTracker(float(fps))
    lms, aps, rgbs = [], [], []
    for frame in iter_video_frames(info):
        found = tracker.track(frame, w, h)
        lms.append(found[0] if found else None)
        aps.append(mouth_shape(found[0])[0] if found else np.nan)
        rgbs.append(cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_I420))
    tracker.close()
    return lms, np.array(aps), rgbs


@pytest.fixture(scope="module")
def open_template(tmp_path_factory, mk):
    """A template whose mouth is never closed: only the frames of a real clip where the lips are apart."""
    path = mk.media("man_map_844sq_25fps.mp4")
    frames = mk.read_rgb(path, 125, 420)
    out = tmp_path_factory.mktemp("open") / "all.mp4"
    _, aps, _ = _track(mk.write_video(out, frames))
    keep = [f for f, a in zip(frames, aps) if a > 0.05]
    assert len(keep) >= 30
    return mk.write_video(out.with_name("open.mp4"), keep), float(np.nanmin(aps[aps > 0.05]))


@pytest.mark.slow
def test_bilabials_close_even_when_no_template_frame_is_closed(tmp_path, mk, open_template):
    template, least = open_template
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 2.4))
    # Known phones (as a typed script gives them): "ma ma ma ma".
    phones = [(p, 0.3 * k, 0.3 * (k + 1)) for k, p in enumerate(["AA", "M"] * 4)]
    out = tmp_path / "out.mp4"
    report = inference.generate(template, speech, out, inference.Config(backend="retrieval", **FAST), phones=phones)
    assert report.backend == "retrieval"
    _, aps, _ = _track(str(out))
    for k in range(1, 8, 2):  # each M reaches closed lips, though no template frame is closed
        assert np.nanmin(aps[int(0.3 * k * 25) : int(0.3 * (k + 1) * 25) + 1]) < 0.5 * least
    for k in range(2, 8, 2):  # and each AA opens
        assert np.nanmax(aps[int(0.3 * k * 25) : int(0.3 * (k + 1) * 25) + 1]) > least


@pytest.mark.slow
def test_a_recogniser_failure_does_not_freeze_the_mouth(tmp_path, mk, real_template):
    seconds = 9.0
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_eng_16k_mono_60s.wav"), seconds))
    # What a lost recogniser returns for continuous speech: one "phone" lasting the whole recording.
    report = inference.generate(real_template, speech, tmp_path / "out.mp4",
                                inference.Config(backend="retrieval", debug=True, **FAST),
                                phones=[("AH", 0.3, seconds)])
    _, aps, _ = _track(str(tmp_path / "out.mp4"))
    vad = report.debug["drive"].vad
    for start in range(0, len(aps) - 75 + 1, 75):  # every 3 s window of mostly voiced speech moves
        if (vad[start : start + 75] >= 0.5).mean() >= 0.6:
            assert np.nanstd(aps[start : start + 75]) >= 0.01, f"still mouth from frame {start}"


@pytest.mark.slow
def test_a_short_template_gets_the_retrieval_mouth(tmp_path, mk, real_template):
    frames = mk.read_rgb(real_template, 63)  # 2.5 s of the speaker
    template = mk.write_video(tmp_path / "short.mp4", frames, audio=mk.read_pcm(real_template, 2.5))
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 4.0))
    report = inference.generate(template, speech, tmp_path / "out.mp4", inference.Config(debug=True, **FAST))
    assert report.backend == "retrieval"  # never the warp
    _, aps, _ = _track(str(tmp_path / "out.mp4"))
    speaking = report.debug["drive"].vad >= 0.5
    assert np.nanstd(aps[speaking[: len(aps)]]) >= 0.012


@pytest.mark.slow
def test_a_fast_head_move_never_pastes_outside_the_face(tmp_path, mk):
    """The head sweeps sideways by 6 % of the frame a frame: the paste follows each frame's own face, so beside
    the jaw (outside the face oval) the output is the base frame, as encoded."""
    import cv2

    path = mk.media("woman_glasses_524sq_25fps.mp4")
    frames = mk.read_rgb(path, 60, 320)
    moved = []
    for i, f in enumerate(frames):
        dx = int(round(24 * np.sin(i / 3.0)))  # a fast, irregular sway
        moved.append(np.roll(np.pad(f, ((0, 0), (24, 24), (0, 0)), mode="edge"), dx, axis=1)[:, 24:-24])
    template = mk.write_video(tmp_path / "sway.mp4", moved, audio=mk.read_pcm(path, 2.4))
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 2.4))
    out = tmp_path / "out.mp4"
    inference.generate(template, speech, out, inference.Config(backend="retrieval", crf=8, **FAST))
    base_lms, _, base_rgb = _track(template)
    _, _, out_rgb = _track(str(out))
    checked = 0
    for lm, b, o in zip(base_lms, base_rgb, out_rgb):
        if lm is None:
            continue
        hull = np.zeros(b.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm[list(FACE_OVAL)]).astype(np.int32)), 1)
        k = int(round(0.15 * interocular(lm))) * 2 + 1
        ring = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool) & ~hull.astype(bool)
        ring[int(lm[17, 1] + 0.5 * (lm[152, 1] - lm[17, 1])) :] = False  # the sides, above the chin
        diff = np.abs(o.astype(np.float32) - b.astype(np.float32))[ring].mean()
        assert diff < 4.0, f"paste outside the face: {diff:.1f} levels"
        checked += 1
    assert checked >= 50


@pytest.mark.slow
def test_a_frame_whose_chosen_mouth_does_not_line_up_still_follows_the_speech(tmp_path, mk, real_template,
                                                                               monkeypatch):
    """As on a turning head, no chosen mouth lines up with its base frame (the fit limit is set so only a frame
    fits itself): those frames show the base frame's own mouth, reshaped to the plan, so "ma ma ma ma" still
    opens and closes instead of showing the base's own lips (which once made a jump each way)."""
    from inference import composite

    monkeypatch.setattr(composite, "MAX_ALIGN_RESIDUAL", 1e-6)
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 2.4))
    phones = [(p, 0.3 * k, 0.3 * (k + 1)) for k, p in enumerate(["AA", "M"] * 4)]
    out = tmp_path / "out.mp4"
    report = inference.generate(real_template, speech, out,
                                inference.Config(backend="retrieval", debug=True, **FAST), phones=phones)
    own = report.debug["own"]
    assert own.mean() > 0.5 and report.frames_kept_own_mouth == int(own.sum())
    _, aps, _ = _track(str(out))
    targets = report.debug["targets"][:, 0]
    n = min(len(aps), len(targets))
    assert np.nanmean(np.abs(aps[:n] - targets[:n])[own[:n]]) < 0.03  # the plan, not the base's own lips
    for k in range(1, 8, 2):  # each M closes
        assert np.nanmin(aps[int(0.3 * k * 25) : int(0.3 * (k + 1) * 25) + 1]) < 0.03
    for k in range(2, 8, 2):  # each AA opens
        assert np.nanmax(aps[int(0.3 * k * 25) : int(0.3 * (k + 1) * 25) + 1]) > 0.08
