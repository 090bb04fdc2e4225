"""Running the generator on engine frames: crops, batching, and a paste that replaces only the lower half.

The end-to-end test tracks real faces from ../shared/media with the engine's tracker and runs a random-weight
Wav2Lip loaded from a checkpoint file written here.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import media
from inference.errors import GpuOutOfMemory
from inference.backends.wav2lip.audio import mel_windows, melspectrogram
from inference.backends.wav2lip.checkpoint import load_wav2lip
from inference.backends.wav2lip.generator import (
    Wav2LipRenderer,
    Wav2LipRunner,
    face_box,
    prepare_faces,
)
from inference.backends.wav2lip.nets import SyncNetColor, Wav2Lip
from inference.media import split_planes

REPO = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("HEYGEM_TEST_MEDIA", REPO.parent / "shared" / "media"))
CLIP = MEDIA / "video" / "woman_glasses_524sq_25fps.mp4"


def test_faces_are_masked_below_row_48_and_kept_as_reference():
    faces = np.random.default_rng(0).integers(1, 256, (2, 96, 96, 3), dtype=np.uint8)
    x = prepare_faces(faces)
    assert x.shape == (2, 6, 96, 96) and x.dtype == np.float32
    assert (x[:, :3, 48:] == 0).all()
    np.testing.assert_allclose(x[:, :3, :48], faces[:, :48].transpose(0, 3, 1, 2) / 255.0)
    np.testing.assert_allclose(x[:, 3:], faces.transpose(0, 3, 1, 2) / 255.0)


def test_the_face_box_gets_the_spec_padding_and_stays_inside_the_frame():
    lm = np.array([[101.0, 50.5], [199.0, 150.0]], dtype=np.float32)
    x0, y0, w, h = face_box(lm, 640, 360)
    assert (x0, y0) == (100, 48)
    assert y0 + h >= 160 and y0 + h <= 164  # 10 px of chin padding (spec default pads 0, 10, 0, 0)
    assert all(v % 4 == 0 for v in (x0, y0, w, h))
    x0, y0, w, h = face_box(np.array([[-5, -5], [638, 355]], dtype=np.float32), 638, 358)
    assert (x0, y0) == (0, 0) and x0 + w <= 636 and y0 + h <= 356


class FakeGenerator(torch.nn.Module):
    """Stands in for Wav2Lip where only the runner's logic is tested: returns the reference face scaled so
    value*255 has a fraction (to check truncation), and fails like a full GPU on batches above ``limit``."""

    def __init__(self, limit=None, invert=False):
        super().__init__()
        self.limit = limit
        self.invert = invert
        self.calls = []

    def forward(self, audio, face):
        assert audio.shape[1:] == (1, 80, 16) and face.shape[1:] == (6, 96, 96)
        self.calls.append(len(face))
        if self.limit is not None and len(face) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        if self.invert:  # a clearly different mouth, for tests about which frames get one
            return 1.0 - face[:, 3:]
        return face[:, 3:] * 0.999 + 0.0 * audio.mean()


def test_predictions_are_truncated_like_the_official_paste():
    faces = np.full((1, 96, 96, 3), 101, dtype=np.uint8)
    out = Wav2LipRunner(FakeGenerator()).predict(faces, np.zeros((1, 80, 16), np.float32))
    assert out.dtype == np.uint8 and out.shape == (1, 96, 96, 3)
    assert (out == 100).all()  # 101 * 0.999 = 100.899 -> 100, not 101


def test_a_batch_that_runs_out_of_memory_is_halved_and_retried():
    faces = np.random.default_rng(1).integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    fake = FakeGenerator(limit=2)
    out = Wav2LipRunner(fake, max_batch=8).predict(faces, np.zeros((5, 80, 16), np.float32))
    assert fake.calls == [5, 4, 2, 2, 1]
    np.testing.assert_array_equal(out, (faces.astype(np.float32) / 255 * 0.999 * 255).astype(np.uint8))


def test_a_single_face_that_does_not_fit_fails_with_a_clear_code():
    faces = np.zeros((3, 96, 96, 3), dtype=np.uint8)
    with pytest.raises(GpuOutOfMemory) as caught:
        Wav2LipRunner(FakeGenerator(limit=0), max_batch=4).predict(faces, np.zeros((3, 80, 16), np.float32))
    assert caught.value.code == "gpu_out_of_memory"


@pytest.fixture(scope="module")
def tracked():
    """Three I420 frames of a real face, their size, fps and smoothed landmarks."""
    from inference.face import FaceTracker

    if not CLIP.exists():
        pytest.skip(f"shared test media missing: {CLIP}")
    info = media.probe(str(CLIP))
    width, height, fps = media.video_geometry(info)
    tracker = FaceTracker(float(fps))
    frames, marks = [], []
    try:
        for frame in media.iter_video_frames(info):
            found = tracker.track(frame, width, height)
            frames.append(frame.copy())
            marks.append(found[1] if found else None)
            if len(frames) == 3:
                break
    finally:
        tracker.close()
    assert all(m is not None for m in marks)
    return frames, marks, width, height, float(fps)


def test_end_to_end_only_the_lower_half_of_the_face_box_changes(tmp_path, tracked):
    frames, marks, width, height, fps = tracked
    torch.manual_seed(0)
    torch.save({"state_dict": {"module." + k: v for k, v in Wav2Lip().state_dict().items()}, "optimizer": None},
               tmp_path / "wav2lip.pth")
    runner = Wav2LipRunner(load_wav2lip(tmp_path / "wav2lip.pth", "cpu"), "cpu")
    renderer = Wav2LipRenderer(runner, width, height)
    audio = media.load_audio(str(CLIP), 16000)
    mels = mel_windows(melspectrogram(audio[:16000]), fps, len(frames))
    before = [f.copy() for f in frames]
    work = [f.copy() for f in frames]
    marks = list(marks)
    marks[1] = None  # a frame without a face stays untouched

    assert renderer.apply(work, marks, mels) == 2

    assert np.array_equal(work[1], before[1])
    for i in (0, 2):
        x0, y0, w, h = face_box(marks[i], width, height)
        mid = (y0 + h // 2) // 2 * 2
        y_old, u_old, v_old = split_planes(before[i], width, height)
        y_new, u_new, v_new = split_planes(work[i], width, height)
        changed = y_old != y_new
        assert changed[mid:y0 + h, x0:x0 + w].mean() > 0.2  # the random generator repainted the lower face
        outside = changed.copy()
        outside[mid:y0 + h, x0:x0 + w] = False
        assert not outside.any(), "pixels outside the lower half of the face box changed"
        for old, new in ((u_old, u_new), (v_old, v_new)):
            c = old != new
            c[mid // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2] = False
            assert not c.any(), "chroma outside the lower half of the face box changed"


def load_bench():
    spec = importlib.util.spec_from_file_location("syncnet_eval", REPO / "bench" / "syncnet_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_syncnet_bench_refuses_to_run_without_a_checkpoint():
    env = {k: v for k, v in os.environ.items() if k != "HEYGEM_SYNCNET_CHECKPOINT"}
    result = subprocess.run([sys.executable, str(REPO / "bench" / "syncnet_eval.py"), str(CLIP)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--checkpoint /path/to/lipsync_expert.pth" in result.stderr
    assert "Nothing is downloaded" in result.stderr


def test_the_syncnet_bench_refuses_a_wrong_checkpoint(tmp_path, capsys):
    bad = tmp_path / "lipsync_expert.pth"
    bad.write_text("<html>Google Drive: virus scan warning</html>")
    assert load_bench().main(["--checkpoint", str(bad), str(CLIP)]) == 2
    assert "not a torch checkpoint" in capsys.readouterr().err


def test_the_syncnet_bench_scores_a_real_clip(tmp_path):
    if not CLIP.exists():
        pytest.skip(f"shared test media missing: {CLIP}")
    torch.manual_seed(0)
    torch.save({"state_dict": SyncNetColor().state_dict()}, tmp_path / "expert.pth")
    out = tmp_path / "scores.json"
    assert load_bench().main(["--checkpoint", str(tmp_path / "expert.pth"), "--max-seconds", "1",
                              "--out", str(out), str(CLIP)]) == 0
    row = json.loads(out.read_text())["results"][0]
    assert row["frames"] == 25 and row["windows"] == 21 and row["face_coverage"] == 1.0
    assert np.isfinite(row["lse_d"]) and row["lse_c"] >= 0 and -15 <= row["offset"] <= 15


def test_the_render_loop_writes_every_output_frame_in_order_and_skips_faceless_ones(tracked):
    frames, marks, width, height, fps = tracked
    smooth = np.stack(marks)
    valid = np.array([True, False, True])
    bases = np.array([0, 1, 2, 1, 0])  # ping-pong over three template frames
    base_frames = (frames[int(b)].copy() for b in bases)
    mels = np.zeros((5, 80, 16), np.float32)
    written, progress = [], []
    from inference.backends.wav2lip.generator import render_stream

    renderer = Wav2LipRenderer(Wav2LipRunner(FakeGenerator(invert=True)), width, height)
    changed = render_stream(renderer, base_frames, bases, smooth, valid, mels, written.append, batch_size=2,
                            on_batch=progress.append)
    assert changed == 3 and progress == [2, 4, 5] and len(written) == 5
    for out, b in zip(written, bases):
        assert np.array_equal(out, frames[b]) == (not valid[b])
