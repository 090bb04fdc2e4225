"""User-fixable problems end in the right error code, and a failed or cancelled run leaves no file behind."""
import os

import numpy as np
import pytest

import inference

FAST = dict(backend="warp", preset="ultrafast")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("out"))


def test_a_video_without_a_face_is_refused(tmp_path, mk, face_audio, speech_wav):
    rng = np.random.default_rng(0)
    frames = [(np.linspace(0, 255, 128)[None, :, None] * np.ones((96, 1, 3)) + rng.normal(0, 8, (96, 128, 3)))
              .clip(0, 255).astype(np.uint8) for _ in range(40)]
    template = mk.write_video(tmp_path / "noface.mp4", frames, audio=face_audio[:25600])
    with pytest.raises(inference.NoFace) as exc:
        inference.generate(template, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    assert exc.value.code == "no_face"
    assert leftovers(tmp_path) == []


def test_a_few_faceless_frames_pass_through_and_are_counted(tmp_path, mk, face_frames, face_audio, speech_wav):
    frames = list(face_frames[:30])
    for i in (10, 11, 12, 13, 14):
        frames[i] = np.zeros_like(frames[i])
    template = mk.write_video(tmp_path / "gap.mp4", frames, audio=face_audio[:19200])
    report = inference.generate(template, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    assert report.frames_without_face == 5
    assert report.frames_with_face == 25
    out = mk.decode_rgb(str(tmp_path / "out.mp4"))
    assert out[12].mean() < 3  # the black frame is still black: passed through, not failed


def test_an_audio_file_as_template_has_no_video(tmp_path, speech_wav):
    with pytest.raises(inference.NoVideoStream):
        inference.generate(speech_wav, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))


def test_a_silent_video_as_audio_has_no_audio(tmp_path, mk, face_frames, face_clip):
    mute = mk.write_video(tmp_path / "mute.mp4", face_frames[:10])
    with pytest.raises(inference.NoAudioStream) as exc:
        inference.generate(face_clip, mute, tmp_path / "out.mp4", inference.Config(**FAST))
    assert exc.value.code == "no_audio_stream"


def test_a_text_file_named_mp4_is_unsupported(tmp_path, face_clip, speech_wav):
    fake = tmp_path / "clip.mp4"
    fake.write_text("hello\n" * 100)
    with pytest.raises(inference.UnsupportedMedia):
        inference.generate(fake, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    with pytest.raises(inference.UnsupportedMedia):
        inference.generate(face_clip, fake, tmp_path / "out.mp4", inference.Config(**FAST))


def test_a_truncated_file_is_unsupported(tmp_path, face_clip, speech_wav):
    data = open(face_clip, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) sits at the end and is gone
    with pytest.raises(inference.UnsupportedMedia):
        inference.generate(cut, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "limits,error",
    [
        (dict(max_duration_s=1.0), inference.InputTooLong),
        (dict(max_pixels=200 * 200), inference.InputTooLarge),
        (dict(max_bytes=10_000), inference.InputTooLarge),
    ],
)
def test_limits(tmp_path, face_clip, speech_wav, limits, error):
    with pytest.raises(error):
        inference.generate(face_clip, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST, **limits))


def test_a_cancelled_run_stops_and_removes_its_output(tmp_path, face_clip, speech_wav):
    stages = []
    calls = {"n": 0}

    def should_cancel():
        calls["n"] += 1
        return "render" in stages  # cancel once rendering has begun: the partial file exists by then

    with pytest.raises(inference.Cancelled) as exc:
        inference.generate(face_clip, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST, batch_size=4),
                           on_progress=lambda stage, *rest: stages.append(stage), should_cancel=should_cancel)
    assert exc.value.code == "cancelled"
    assert "render" in stages and "finish" not in stages
    assert leftovers(tmp_path) == []


def test_progress_reports_every_stage_in_order(tmp_path, face_clip, speech_wav):
    events = []
    inference.generate(face_clip, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST),
                       on_progress=lambda *event: events.append(event))
    order = []
    for stage, fraction, done, total, note in events:
        assert 0.0 <= fraction <= 1.0 and isinstance(note, str)
        assert isinstance(done, int) and isinstance(total, int) and 0 <= done <= max(total, 0) or total == 0
        if not order or order[-1] != stage:
            order.append(stage)
    assert order == ["probe", "audio", "track", "select", "render", "finish"]
    assert events[-1][:2] == ("finish", 1.0)
    assert os.path.exists(tmp_path / "out.mp4")


def test_the_report_is_plain_json(tmp_path, face_clip, speech_wav):
    import json

    report = inference.generate(face_clip, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["backend"] == "warp" and data["backend_reason"] == "requested"
    assert data["frames_out"] == 75 and data["face_coverage"] == 1.0
    assert set(data["seconds"]) == {"probe", "model", "audio", "track", "select", "render", "finish"}
    assert "debug" not in data
