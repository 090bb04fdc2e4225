"""python -m inference generate: a progress bar on stderr, the report as JSON on stdout, error codes as exit 2."""
import json
import subprocess
import sys
from pathlib import Path

import inference

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "inference", *args], cwd=REPO, capture_output=True, text=True)


def test_generate_writes_the_video_and_prints_the_report(tmp_path, face_clip, speech_wav):
    out = tmp_path / "cli.mp4"
    proc = run("generate", "--video", face_clip, "--audio", speech_wav, "--out", str(out), "--backend", "warp",
               "--preset", "ultrafast")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["backend"] == "warp" and report["frames_out"] == 75
    assert "render [" in proc.stderr and "100.0%" in proc.stderr
    assert inference.probe(out).frame_count == 75


def test_generate_reports_user_errors_by_code(tmp_path, speech_wav):
    proc = run("generate", "--video", speech_wav, "--audio", speech_wav, "--out", str(tmp_path / "x.mp4"),
               "--quiet")
    assert proc.returncode == 2
    assert "no_video_stream" in proc.stderr


def test_generate_plans_a_voice_in_another_language_when_asked(tmp_path, face_clip, speech_wav):
    proc = run("generate", "--video", face_clip, "--audio", speech_wav, "--out", str(tmp_path / "other.mp4"),
               "--backend", "retrieval", "--preset", "ultrafast", "--speech-language", "other", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["speech_language"] == "other"


def test_generate_refuses_a_language_it_does_not_know_before_any_work(tmp_path, face_clip, speech_wav):
    out = tmp_path / "x.mp4"
    proc = run("generate", "--video", face_clip, "--audio", speech_wav, "--out", str(out), "--speech-language", "zh")
    assert proc.returncode == 2 and "--speech-language: invalid choice: 'zh'" in proc.stderr
    assert not out.exists()
    assert "other (any other language" in " ".join(run("generate", "--help").stdout.split())
