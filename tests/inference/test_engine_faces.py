"""Face tracking: small faces in portrait video, the main face among several, smooth landmarks."""
import numpy as np
import pytest

import inference
from inference.face import FaceTracker, OneEuro, mouth_shape
from inference.media import iter_video_frames, video_geometry


def test_a_small_face_in_a_portrait_1080p_frame_is_found(mk):
    info = inference.probe(mk.media("woman_outdoor_1080x1920_hevc_25fps.mp4"))
    w, h, fps = video_geometry(info)
    tracker = FaceTracker(float(fps))
    found = []
    for i, frame in enumerate(iter_video_frames(info)):
        found.append(tracker.track(frame, w, h))
        if i == 9:
            break
    tracker.close()
    assert all(f is not None for f in found)
    lm = found[-1][0]
    face_w = np.ptp(lm[:, 0])
    assert 150 < face_w < 400  # about 250 px wide in a 1080 px frame
    assert 0.0 <= mouth_shape(lm)[0] < 0.5


def test_one_euro_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuro(rate=25.0)
    still = [f(np.array([[100.0, 100.0]]) + rng.normal(0, 1.0, (1, 2)), scale=60.0) for _ in range(50)]
    assert np.std(np.array(still)[10:, 0, 0]) < 0.5  # raw noise has std 1.0
    moved = [f(np.array([[100.0 + 4 * k, 100.0]]), scale=60.0) for k in range(25)]
    assert abs(moved[-1][0, 0] - 196.0) < 8  # lags a few pixels at most behind a face moving 100 px/s


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory, mk):
    """Two real people side by side: a smaller man on the left, a larger woman (the main face) on the right."""
    man = mk.read_rgb(mk.media("man_map_844sq_25fps.mp4"), 40, 160)
    woman = mk.read_rgb(mk.media("woman_glasses_524sq_25fps.mp4"), 40, 256)
    frames = []
    for m, w in zip(man, woman):
        canvas = np.zeros((256, 160 + 256, 3), np.uint8)
        canvas[48:208, :160] = m
        canvas[:, 160:] = w
        frames.append(canvas)
    audio = mk.read_pcm(mk.media("woman_glasses_524sq_25fps.mp4"), 1.6)
    return mk.write_video(tmp_path_factory.mktemp("two") / "two.mp4", frames, audio=audio), frames


def test_the_main_face_is_followed_and_the_other_left_alone(tmp_path, mk, two_faces):
    template, frames = two_faces
    drive = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 1.6))
    report = inference.generate(template, drive, tmp_path / "out.mp4",
                                inference.Config(backend="warp", preset="ultrafast", crf=12))
    assert report.face_coverage > 0.9
    out = mk.decode_rgb(str(tmp_path / "out.mp4"))
    src = mk.decode_rgb(template)
    man_diff = np.mean([np.abs(o[:, :160].astype(float) - s[:, :160]).mean() for o, s in zip(out, src)])
    woman_mouth = np.mean([np.abs(o[150:230, 250:340].astype(float) - s[150:230, 250:340]).mean()
                           for o, s in zip(out, src)])
    assert man_diff < 1.5
    assert woman_mouth > 3 * man_diff
