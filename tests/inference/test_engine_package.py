"""The package's public surface: cheap import without Django, stable error codes, config validation."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import inference

REPO = Path(__file__).resolve().parents[2]


def test_it_imports_without_django_or_heavy_libraries():
    code = (
        "import json, sys; import inference; "
        "print(json.dumps([m for m in ('django', 'torch', 'av', 'mediapipe', 'cv2', 'pocketsphinx') "
        "if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_no_module_imports_django():
    pattern = re.compile(r"^\s*(import|from)\s+django\b", re.M)
    for path in (REPO / "inference").rglob("*.py"):
        assert not pattern.search(path.read_text()), path


def test_error_codes_are_stable_and_unique():
    codes = {cls.code for cls in inference.ALL_ERRORS}
    assert codes == {
        "unsupported_media", "no_video_stream", "no_audio_stream", "no_face", "input_too_long",
        "input_too_large", "cancelled", "model_unavailable", "script_empty", "script_too_long", "script_language",
        "unknown_voice", "voice_unavailable", "gpu_out_of_memory",
    }
    for cls in inference.ALL_ERRORS:
        err = cls("/secret/path/file.mp4")
        assert isinstance(err, inference.InferenceError)
        assert err.message and "/secret" not in err.message


@pytest.mark.parametrize("field,value", [("backend", "magic"), ("length_policy", "bounce"), ("crf", 99)])
def test_config_rejects_unknown_values(field, value):
    with pytest.raises(ValueError):
        inference.Config(**{field: value})


def test_wav2lip_without_a_model_is_unavailable(tmp_path):
    with pytest.raises(inference.ModelUnavailable):
        inference.generate(tmp_path / "v.mp4", tmp_path / "a.wav", tmp_path / "o.mp4",
                           inference.Config(backend="wav2lip"))
    assert not (tmp_path / "o.mp4").exists()
