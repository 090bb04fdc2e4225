"""A voice in another language (``Config.speech_language="other"``): the lips open with its first formant, not
with English words, and no words are recognised."""
import numpy as np
import pytest

import inference
from inference import speech
from inference.backends.base import Job
from inference.backends.retrieval import model as retrieval
from inference.config import Config
from inference.template import Track
from tests.media import vowel

FPS = 25.0
RATE = 16000


def _vowels():
    """"ee aa ee aa" at one loudness with long pauses: samples, each vowel's inner frames and the voice activity."""
    gap = np.zeros(int(0.8 * RATE), np.float32)
    parts = [gap, vowel(300, 0.6), gap, vowel(800, 0.6), gap, vowel(300, 0.6), gap, vowel(800, 0.6), gap]
    samples = np.concatenate(parts)
    n = int(len(samples) / RATE * FPS)
    vad = np.zeros(n, np.float32)
    spans, t = [], 0.0
    for k, part in enumerate(parts):
        end = t + len(part) / RATE
        if k % 2:
            vad[int(round(t * FPS)) : int(round(end * FPS))] = 1.0
            spans.append(np.arange(int(round((t + 0.12) * FPS)), int((end - 0.12) * FPS)))
        t = end
    return samples, spans, vad


def _job(language, samples, vad, phones):
    """A planner job: a template whose mouth spans closed to wide open (no soundtrack of its own), driven by
    ``samples`` whose voice activity is ``vad`` and whose phones are ``phones`` (None: none decoded)."""
    n_tpl, n_out = 50, len(vad)
    aperture = np.linspace(0.005, 0.2, n_tpl).astype(np.float32)
    track = Track(raw=np.zeros((n_tpl, 478, 2), np.float32), smooth=np.zeros((n_tpl, 478, 2), np.float32),
                  valid=np.ones(n_tpl, bool), aperture=aperture, width=np.full(n_tpl, 0.9, np.float32),
                  pose=np.zeros((n_tpl, 2), np.float32))
    mel = np.zeros((n_out, 26), np.float32)
    shares = None if phones is None else speech.class_shares(phones, n_out, FPS)
    drive = speech.SpeechAnalysis(vad, mel, np.full(n_out, -20.0, np.float32), np.zeros(n_out, np.float32),
                                  np.zeros(26, np.float32), phones, shares)
    job = Job(Config(speech_language=language), "cpu", 0, 0, FPS, n_out, np.arange(n_out) % n_tpl, track, None,
              samples)
    job.drive = drive
    return job


def _plan(job):
    return retrieval.plan(job, lambda *args, **kwargs: None)["targets"][:, 0]


def test_another_language_opens_every_speech_frame_with_the_first_formant_instead_of_the_english_phones():
    samples, (ee1, aa1, ee2, aa2), vad = _vowels()
    # What English recognition made of it: "ee" all along (a wrong word is as likely as a right one).
    heard_as_english = [("IY", i / FPS, (i + 1) / FPS) for i in np.flatnonzero(vad)]
    english = _plan(_job("en", samples, vad, heard_as_english))
    other = _plan(_job("other", samples, vad, None))
    aa, ee = np.concatenate([aa1, aa2]), np.concatenate([ee1, ee2])
    # English phones open "aa" and "ee" alike; the formant opens "aa" well beyond "ee".
    assert abs(english[aa].mean() - english[ee].mean()) < 0.01
    assert other[aa].min() > other[ee].max() + 0.03, (other[aa], other[ee])
    # Inside the vowels every frame is the formant's; the pauses rest as on the phone path.
    job = _job("other", samples, vad, None)
    person = retrieval.shape_model(job.track)
    heard = retrieval.heard_aperture(speech.formant_openness(samples, len(vad), FPS), vad, person)
    np.testing.assert_allclose(other[aa], heard[aa], atol=1e-6)
    np.testing.assert_allclose(other[ee], heard[ee], atol=1e-6)
    assert other[vad < 0.5].max() <= person.closed_aperture + 1e-6


def test_in_another_language_phones_only_close_the_lips():
    samples, (ee1, aa1, ee2, aa2), vad = _vowels()
    m = aa1[len(aa1) // 2]
    closure = [("M", m / FPS, (m + 2) / FPS)]
    without = _plan(_job("other", samples, vad, []))
    closed = _plan(_job("other", samples, vad, closure))
    person = retrieval.shape_model(_job("other", samples, vad, None).track)
    assert without[m] > person.closed_aperture + 0.05
    assert closed[m : m + 2].max() <= person.closed_aperture + 1e-6
    # Elsewhere in the vowel the formant still rules, past the speed limit's ramp into the closure.
    far = aa1[np.abs(aa1 - m) > 6]
    np.testing.assert_allclose(closed[far], without[far])


@pytest.mark.parametrize("value", ["zh", "", "EN"])
def test_the_engine_refuses_a_language_it_does_not_know(value):
    with pytest.raises(ValueError, match="speech_language"):
        Config(speech_language=value)


@pytest.mark.slow
def test_another_language_recognises_no_words_and_a_batch_reuses_what_it_heard(tmp_path, face_clip, speech_wav, mk):
    config = Config(backend="retrieval", speech_language="other")
    first = inference.generate(face_clip, speech_wav, tmp_path / "first.mp4", config)
    samples = mk.read_pcm(speech_wav, 3.0)
    assert first.speech_language == "other"
    # All-phone decoding only, for the closures: no English words.
    assert first.heard_phones == speech.decode_phones(samples, words=False) != speech.decode_phones(samples)
    again = inference.generate(face_clip, speech_wav, tmp_path / "again.mp4", config, phones=first.heard_phones)
    assert again.heard_phones is None
    frames = [mk.decode_rgb(str(tmp_path / name)) for name in ("first.mp4", "again.mp4")]
    assert len(frames[0]) == len(frames[1]) and all(np.array_equal(a, b) for a, b in zip(*frames))
    english = inference.generate(face_clip, speech_wav, tmp_path / "english.mp4", Config(backend="retrieval"))
    assert english.speech_language == "en"
    assert not all(np.array_equal(a, b) for a, b in zip(frames[0], mk.decode_rgb(str(tmp_path / "english.mp4"))))
