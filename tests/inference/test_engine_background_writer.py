"""media.VideoWriter(background=True): the same file as a plain writer, the caller free to reuse its array, and
an encoder failure raised in the caller instead of lost on the helper thread."""
import threading

import numpy as np
import pytest

from inference import Config, probe
from inference.media import VideoWriter, iter_video_frames, split_planes, video_geometry


def _frames(n=30):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (72, 64), dtype=np.uint8) for _ in range(n)]


def _write(path, wav, frames, background):
    writer = VideoWriter(path, wav, 64, 48, 25, Config(), background=background)
    buf = np.empty((72, 64), np.uint8)
    for f in frames:
        buf[:] = f  # one array, overwritten right after each write
        writer.write(buf)
    writer.close()
    info = probe(path)
    w, h, _ = video_geometry(info)
    return info, [split_planes(f, w, h)[0].copy() for f in iter_video_frames(info)]


def test_a_background_writer_writes_what_a_plain_one_writes(tmp_path, speech_wav):
    frames = _frames()
    plain_info, plain = _write(tmp_path / "plain.mp4", speech_wav, frames, background=False)
    info, luma = _write(tmp_path / "background.mp4", speech_wav, frames, background=True)
    assert info.frame_count == plain_info.frame_count == len(frames)
    assert abs(info.duration_s - plain_info.duration_s) < 1e-3
    # The same frames reach the encoder in the same order, though the caller reused its array at once.
    for a, b in zip(plain, luma):
        assert np.array_equal(a, b)
    assert not any(t.name == "encode" for t in threading.enumerate())


def test_an_encoder_failure_reaches_the_caller(tmp_path, speech_wav):
    writer = VideoWriter(tmp_path / "broken.mp4", speech_wav, 64, 48, 25, Config(), background=True)

    def fail(frame):
        raise RuntimeError("encoder broke")

    writer._encode = fail
    writer._encoder._encode = fail
    with pytest.raises(RuntimeError, match="encoder broke"):
        for f in _frames(50):
            writer.write(f)
        writer.close()
    writer.close(finish=False)  # the pipeline's cleanup after a failure: no hang, no second error
    assert not any(t.name == "encode" for t in threading.enumerate())


def test_an_abandoned_background_writer_stops_without_finishing(tmp_path, speech_wav):
    writer = VideoWriter(tmp_path / "cancelled.mp4", speech_wav, 64, 48, 25, Config(), background=True)
    for f in _frames(20):
        writer.write(f)
    writer.close(finish=False)
    assert not any(t.name == "encode" for t in threading.enumerate())
