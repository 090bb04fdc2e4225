"""The backend interface: a backend registered from outside runs through the whole pipeline, `auto` ranks the
registered ones, and known phones replace recognition."""
from __future__ import annotations

import numpy as np
import pytest

import inference
from inference import backends
from inference.backends.base import Backend, Rendered
from inference.media import iter_video_frames, split_planes

FAST = dict(preset="ultrafast")


class Stamp(Backend):
    """Paints a white square in the top-left corner of every frame it is given."""

    name = "stamp"
    uses_speech = False
    uses_phones = False
    auto_rank = 1
    loaded = planned = 0

    @classmethod
    def unavailable(cls, config):
        return None if config.wav2lip_fp16 else "the test switch is off"  # any setting will do as a switch

    def load(self, progress):
        Stamp.loaded += 1

    def plan(self, job, progress):
        Stamp.planned += 1
        assert job.drive is None and job.template is None, "it asked for no speech analysis"
        assert len(job.bases) == job.n_out and job.track.valid.any()

    def render(self, job, frames, write, progress):
        for i, frame in enumerate(frames):
            progress("render", i / job.n_out, i, job.n_out)
            split_planes(frame, job.width, job.height)[0][:16, :16] = 255
            write(frame)
        return Rendered(details={"acoustic_features": "none"})


@pytest.fixture
def stamp(monkeypatch):
    monkeypatch.setitem(backends.REGISTRY, "stamp", Stamp)
    Stamp.loaded = Stamp.planned = 0
    return Stamp


def test_a_registered_backend_runs_through_the_pipeline(tmp_path, stamp, face_clip, speech_wav):
    events = []
    report = inference.generate(face_clip, speech_wav, tmp_path / "out.mp4", inference.Config(backend="stamp", wav2lip_fp16=True, **FAST),
                                on_progress=lambda *e: events.append(e))
    assert report.backend == "stamp" and report.backend_reason == "requested"
    assert (stamp.loaded, stamp.planned) == (1, 1)
    info = inference.probe(tmp_path / "out.mp4")
    corners = [split_planes(f, info.width & ~1, info.height & ~1)[0][:16, :16] for f in iter_video_frames(info)]
    assert len(corners) == report.frames_out and all(c.mean() > 240 for c in corners)
    render = [(done, total) for stage, _, done, total, _ in events if stage == "render"]
    assert render[-1] == (report.frames_out, report.frames_out)


def test_auto_takes_the_best_ranked_backend_that_can_run(stamp):
    assert backends.choose(inference.Config(wav2lip_fp16=True))[0] is Stamp
    chosen, reason = backends.choose(inference.Config())
    assert chosen.name == "retrieval" and reason
    with pytest.raises(inference.ModelUnavailable):
        backends.choose(inference.Config(backend="stamp"))


def test_auto_never_chooses_the_warp():
    assert backends.get("warp").auto_rank is None


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError):
        inference.Config(backend="nonesuch")


@pytest.mark.slow
def test_known_phones_replace_recognition(tmp_path, mk, real_template):
    speech = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 2.0))
    config = inference.Config(backend="retrieval", debug=True, **FAST)
    # The same audio, told it is open vowels and then told it is bilabials: the mouth follows the phones it was
    # given, not what a recogniser would hear.
    vowels = [("AA", 0.25 * k, 0.25 * (k + 1)) for k in range(8)]
    hums = [("M", start, end) for _, start, end in vowels]
    opened = inference.generate(real_template, speech, tmp_path / "a.mp4", config, phones=vowels)
    closed = inference.generate(real_template, speech, tmp_path / "m.mp4", config, phones=hums)
    assert opened.debug["drive"].phones == vowels
    speaking = opened.debug["drive"].vad >= 0.5
    assert speaking.sum() > 10
    a, m = opened.debug["targets"][speaking, 0], closed.debug["targets"][speaking, 0]
    assert np.median(a) > np.median(m) + 0.02
