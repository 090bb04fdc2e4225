"""The output always follows the audio: a short template is played back and forth (or looped), a long one cut."""
import numpy as np
import pytest

import inference

FAST = dict(backend="warp", preset="ultrafast")


@pytest.fixture(scope="module")
def numbered_clip(tmp_path_factory, mk, face_frames, face_audio):
    """25 frames (1 s); frame k carries grey level 8 * k + 20 in a corner block, far from the face."""
    frames = []
    for k, f in enumerate(face_frames[:25]):
        f = f.copy()
        f[:24, :24] = 8 * k + 20
        frames.append(f)
    return mk.write_video(tmp_path_factory.mktemp("num") / "numbered.mp4", frames, audio=face_audio[:16000])


def shown_frames(mk, path):
    return [int(round((f[4:20, 4:20].mean() - 20) / 8)) for f in mk.decode_rgb(str(path))]


def driving(mk, tmp_path, seconds):
    samples = mk.read_pcm(mk.media("speech_eng_16k_mono_60s.wav"), seconds, start=2.0)
    return mk.write_audio(tmp_path / "drive.wav", samples)


def test_longer_audio_plays_the_template_back_and_forth(tmp_path, mk, numbered_clip):
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 2.6), tmp_path / "out.mp4",
                                inference.Config(**FAST))
    assert report.frames_out == 65 and report.template_frames == 25
    expected = list(range(25)) + list(range(23, 0, -1)) + list(range(0, 17))
    assert shown_frames(mk, tmp_path / "out.mp4") == expected
    assert abs(inference.probe(tmp_path / "out.mp4").duration_s - 2.6) <= 0.041


def test_loop_policy_restarts_the_template(tmp_path, mk, numbered_clip):
    inference.generate(numbered_clip, driving(mk, tmp_path, 2.2), tmp_path / "out.mp4",
                       inference.Config(**FAST, length_policy="loop"))
    assert shown_frames(mk, tmp_path / "out.mp4") == list(range(25)) * 2 + list(range(5))


def test_cut_policy_ends_with_the_template(tmp_path, mk, numbered_clip):
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 2.2), tmp_path / "out.mp4",
                                inference.Config(**FAST, length_policy="cut"))
    assert report.frames_out == 25
    info = inference.probe(tmp_path / "out.mp4")
    assert info.frame_count == 25 and abs(info.duration_s - 1.0) < 0.1


def test_shorter_audio_cuts_the_template(tmp_path, mk, numbered_clip):
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 0.6), tmp_path / "out.mp4",
                                inference.Config(**FAST))
    assert report.frames_out == 15
    assert shown_frames(mk, tmp_path / "out.mp4") == list(range(15))
    assert abs(inference.probe(tmp_path / "out.mp4").duration_s - 0.6) <= 0.041


def test_silent_audio_still_makes_a_video(tmp_path, mk, face_clip):
    silence = mk.write_audio(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32))
    report = inference.generate(face_clip, silence, tmp_path / "out.mp4", inference.Config(**FAST))
    info = inference.probe(tmp_path / "out.mp4")
    assert report.frames_out == 50 and info.has_audio and abs(info.duration_s - 2.0) <= 0.041


def test_a_template_too_big_to_keep_on_disk_loops_instead_of_failing(tmp_path, mk, numbered_clip, monkeypatch):
    from inference import pipeline

    monkeypatch.setattr(pipeline, "FRAME_CACHE_BYTES", 1000)
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 2.2), tmp_path / "out.mp4",
                                inference.Config(**FAST))
    assert report.length_policy == "loop"
    assert shown_frames(mk, tmp_path / "out.mp4") == list(range(25)) * 2 + list(range(5))


def test_a_nearly_full_temp_folder_loops_instead_of_filling_it(tmp_path, mk, numbered_clip, monkeypatch):
    import shutil

    from inference import pipeline

    free = shutil.disk_usage(tmp_path).free
    usage = shutil.disk_usage(tmp_path)._replace(free=2000)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)  # the render's frames would not fit
    assert pipeline.frame_cache_budget() == 1000 and free > 2000
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 2.2), tmp_path / "out.mp4",
                                inference.Config(**FAST))
    assert report.length_policy == "loop"
    assert shown_frames(mk, tmp_path / "out.mp4") == list(range(25)) * 2 + list(range(5))


def test_a_container_that_overstates_its_frame_count_still_plays_back_and_forth(tmp_path, mk, numbered_clip,
                                                                               monkeypatch):
    # Frames are kept on disk for the backwards part only when the declared count says the audio outlasts the
    # template; a container that claims more frames than it holds must still get a correct ping-pong.
    from inference import media

    real_probe = media.probe

    def overstating(path):
        info = real_probe(path)
        if str(path) == str(numbered_clip):
            info.frame_count = 40
        return info

    monkeypatch.setattr(media, "probe", overstating)
    report = inference.generate(numbered_clip, driving(mk, tmp_path, 1.2), tmp_path / "out.mp4",
                                inference.Config(**FAST))
    assert report.frames_out == 30 and report.template_frames == 25
    assert shown_frames(mk, tmp_path / "out.mp4") == list(range(25)) + list(range(23, 18, -1))
