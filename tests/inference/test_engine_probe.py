"""probe(): stream facts of real and generated files, and clean refusals of files that are not media."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import inference

REPO = Path(__file__).resolve().parents[2]


def test_it_describes_the_portrait_hevc_clip(mk):
    info = inference.probe(mk.media("woman_outdoor_1080x1920_hevc_25fps.mp4"))
    assert (info.width, info.height, info.video_codec, info.fps) == (1080, 1920, "hevc", 25.0)
    assert info.has_audio and info.audio_codec == "aac"
    assert 9.9 < info.duration_s < 10.1


@pytest.mark.parametrize("ccw,shown", [(90, 270), (-90, 90), (180, 180)])
def test_it_reports_rotation_and_displayed_size(tmp_path, mk, face_frames, ccw, shown):
    frames = [f[:, :128] for f in face_frames[:5]]  # 128 wide, 256 high
    path = mk.write_video(tmp_path / "rot.mp4", frames, rotation=ccw)
    info = inference.probe(path)
    assert info.rotation == shown
    expect = (256, 128) if shown in (90, 270) else (128, 256)
    assert (info.width, info.height) == expect


def test_a_text_file_named_mp4_is_unsupported(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(inference.UnsupportedMedia) as exc:
        inference.probe(path)
    assert exc.value.code == "unsupported_media"


def test_a_missing_file_is_unsupported(tmp_path):
    with pytest.raises(inference.UnsupportedMedia):
        inference.probe(tmp_path / "nothing.mp4")


def test_the_cli_prints_json(mk):
    out = subprocess.run([sys.executable, "-m", "inference", "probe", mk.media("woman_glasses_524sq_25fps.mp4")],
                         cwd=REPO, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["width"] == 524 and data["has_audio"] is True


def test_the_cli_exits_with_the_error_code(tmp_path):
    path = tmp_path / "bad.mp4"
    path.write_bytes(b"\x00" * 1000)
    out = subprocess.run([sys.executable, "-m", "inference", "probe", str(path)], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert "unsupported_media" in out.stderr
