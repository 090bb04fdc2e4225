"""media.py: frames come out upright and at a constant rate; the writer's output has the audio's length."""
import numpy as np
import pytest

from inference import Config, probe
from inference.media import VideoWriter, iter_video_frames, split_planes, video_geometry
from inference.template import base_schedule, in_order


def _marker_frames(n=3):
    """128 wide, 64 high, black with a white block in the top-left corner."""
    img = np.zeros((64, 128, 3), np.uint8)
    img[:16, :32] = 255
    return [img] * n


def _luma(path):
    info = probe(path)
    w, h, _ = video_geometry(info)
    return [split_planes(f, w, h)[0] for f in iter_video_frames(info)]


@pytest.mark.parametrize("ccw,corner", [(0, "top_left"), (90, "bottom_left"), (-90, "top_right"),
                                        (180, "bottom_right")])
def test_frames_are_turned_upright(tmp_path, mk, ccw, corner):
    path = mk.write_video(tmp_path / "marker.mp4", _marker_frames(), rotation=ccw)
    y = _luma(path)[0]
    assert y.shape == ((64, 128) if ccw in (0, 180) else (128, 64))
    h, w = y.shape
    quads = {"top_left": y[: h // 4, : w // 4], "top_right": y[: h // 4, -w // 4 :],
             "bottom_left": y[-h // 4 :, : w // 4], "bottom_right": y[-h // 4 :, -w // 4 :]}
    bright = max(quads, key=lambda k: quads[k].mean())
    assert bright == corner


def test_variable_frame_rate_becomes_constant_without_drift(tmp_path, mk):
    rng = np.random.default_rng(1)
    gaps = rng.choice([0.033, 0.041, 0.077], size=40)
    times = np.round(np.concatenate([[0.0], np.cumsum(gaps)[:-1]]), 3)
    frames = [np.full((64, 64, 3), 20 + 5 * k, np.uint8) for k in range(40)]
    path = mk.write_video(tmp_path / "vfr.mkv", frames, times=times)
    info = probe(path)
    fps = info.fps
    levels = [float(y.mean()) for y in _luma(path)]
    # One output frame per 1/fps of input time, give or take one.
    assert abs(len(levels) - (times[-1] * fps + 1)) <= 1.5
    # Output slot n shows the last source frame whose time rounds to slot n or earlier: repeated across gaps,
    # never shown early, and the error stays within half a frame however long the clip.
    slots = np.floor(times * fps + 0.5)
    assert np.abs(times * fps % 1 - 0.5).min() > 0.01  # no source frame exactly between two slots
    for n, level in enumerate(levels):
        k = int(np.nonzero(slots <= n)[0].max())
        gray = (level - 16) * 255 / 219  # limited-range luma back to the RGB grey it was made from
        assert abs(gray - (20 + 5 * k)) < 2.5, (n, k, gray)


def test_odd_sizes_become_even(tmp_path, mk):
    frames = [np.full((61, 75, 3), 128, np.uint8)] * 3
    path = mk.write_video(tmp_path / "odd.mkv", frames, codec="mpeg4")
    info = probe(path)
    w, h, _ = video_geometry(info)
    assert (w, h) == (74, 60)
    assert all(f.shape == (90, 74) for f in iter_video_frames(info))


def test_writer_output_follows_the_audio(tmp_path, mk, speech_wav):
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, speech_wav, 64, 48, 25, Config())
    frame = np.full((72, 64), 100, np.uint8)
    for _ in range(75):
        writer.write(frame)
    writer.close()
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height, info.frame_count) == (64, 48, 75)
    assert abs(info.duration_s - 3.0) < 0.1


def _painted_run(vinfo, bases):
    """in_order's frames with each one painted over after use, as a renderer does: the frames' own levels."""
    seen = []
    for frame in in_order(vinfo, bases):
        seen.append(int(frame[0, 0]))
        frame[:] = 255
    return seen


def test_base_frames_painted_by_the_renderer_never_reach_a_later_frame(monkeypatch):
    # A decoder of four frames (levels 0, 10, 20, 30) that makes new arrays on each decode, as PyAV does.
    monkeypatch.setattr("inference.media.iter_video_frames",
                        lambda info: (np.full((6, 4), 10 * k, np.uint8) for k in range(4)))
    assert _painted_run(None, [0, 1, 2, 3]) == [0, 10, 20, 30]
    assert _painted_run(None, [0, 1, 1, 2, 3, 0, 1]) == [0, 10, 10, 20, 30, 0, 10]  # a held base, then a restart
    assert _painted_run(None, [2, 4, 6, 7]) == [20, 30, 30, 30]  # the decode comes up short: the last is held


def test_a_repeated_slot_is_its_own_array(tmp_path, mk):
    times = [0.0, 0.12, 0.16]  # at 25 fps the first frame fills three slots
    frames = [np.full((64, 64, 3), v, np.uint8) for v in (40, 120, 200)]
    out = list(iter_video_frames(probe(mk.write_video(tmp_path / "vfr.mkv", frames, times=times))))
    assert len({id(f) for f in out}) == len(out)


def test_schedules():
    assert base_schedule(10, 4, "pingpong").tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert base_schedule(6, 4, "loop").tolist() == [0, 1, 2, 3, 0, 1]
    assert base_schedule(3, 4, "pingpong").tolist() == [0, 1, 2]
    assert base_schedule(5, 1, "pingpong").tolist() == [0] * 5
