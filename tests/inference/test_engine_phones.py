"""Phones decoded in a child process while the face is tracked: same phones, a fallback, nothing left behind."""
import numpy as np
import pytest

from inference import phones, speech


@pytest.fixture(scope="module")
def clips(mk):
    return [mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 3.0),
            mk.read_pcm(mk.media("speech_16k_mono_10s.wav"), 2.0)]


def test_the_child_decodes_the_same_phones_as_the_process_itself(clips):
    # The driving audio's words are recognised, the template's phones only decoded (the pipeline's order).
    background = phones.BackgroundPhones(clips, [True, False])
    assert background.proc is not None
    decoded = background.result()
    assert background.proc.returncode == 0  # the child did the work, not the fallback
    assert decoded == [speech.decode_phones(clips[0]), speech.decode_phones(clips[1], words=False)]
    assert decoded[1] != speech.decode_phones(clips[1])  # the flag reached the child
    assert any(p not in ("SIL", "+SPN+", "+NSN+") for p, _, _ in decoded[0])


def test_a_child_that_cannot_start_falls_back_to_decoding_here(clips, monkeypatch):
    monkeypatch.setattr(phones.sys, "executable", "/nonexistent/python")
    background = phones.BackgroundPhones(clips[:1])
    assert background.proc is None
    assert background.result() == [speech.decode_phones(clips[0])]


def test_waiting_reports_and_a_cancel_stops_the_child(clips):
    long_clip = np.tile(clips[0], 40)  # 2 minutes: the child is still busy when we give up
    background = phones.BackgroundPhones([long_clip])
    calls = []

    def cancel():
        calls.append(1)
        raise KeyboardInterrupt  # what progress() raising Cancelled looks like from here

    with pytest.raises(KeyboardInterrupt):
        background.result(on_wait=cancel)
    assert calls and background.proc.poll() is not None


def test_phones_heard_in_one_run_make_the_same_video_in_the_next(tmp_path, face_clip, speech_wav, mk):
    # Batch mode: the worker passes the first video's heard phones to the runs after it, which skip recognition.
    import inference

    first = inference.generate(face_clip, speech_wav, tmp_path / "first.mp4", inference.Config(backend="retrieval"))
    heard = first.heard_phones
    assert heard == speech.decode_phones(mk.read_pcm(speech_wav, 3.0))
    assert "heard_phones" not in first.to_dict()  # not stored with the result: it is the job's
    again = inference.generate(face_clip, speech_wav, tmp_path / "again.mp4", inference.Config(backend="retrieval"),
                               phones=heard)
    assert again.heard_phones is None
    frames = [mk.decode_rgb(str(tmp_path / name)) for name in ("first.mp4", "again.mp4")]
    assert len(frames[0]) == len(frames[1]) and all(np.array_equal(a, b) for a, b in zip(*frames))
