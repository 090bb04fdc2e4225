"""The retrieval backend on a real recording: picks real mouths, closes them in silence, leaves the rest alone."""
import numpy as np
import pytest

import inference
from inference.backends.retrieval import model as retrieval
from inference.speech import CLOSED, N_CLASSES, SIL
from tests.media import vowel


def _shares(classes):
    s = np.zeros((len(classes), N_CLASSES), np.float32)
    s[np.arange(len(classes)), classes] = 1
    return s


def test_targets_close_the_mouth_for_silence_and_bilabials():
    rng = np.random.default_rng(0)
    n = 200
    classes = rng.integers(0, N_CLASSES, n)
    aperture = np.where(classes <= CLOSED, 0.01, 0.05 + 0.1 * rng.random(n)).astype(np.float32)
    width = np.full(n, 0.9, np.float32)
    model = retrieval.person_model(aperture, width, np.ones(n, bool), np.ones(n, np.float32), _shares(classes))
    drive = np.array([SIL] * 5 + [4] * 5 + [CLOSED] * 3 + [4] * 5)
    vad = np.ones(len(drive), np.float32)
    vad[:5] = 0
    targets = retrieval.predict_targets(model, vad, _shares(drive))
    assert targets[:4, 0].max() <= model.closed_aperture + 1e-6
    assert targets[11, 0] <= model.closed_aperture + 1e-6  # the middle of the P B M run
    assert targets[6:9, 0].min() > model.closed_aperture + 0.5 * (model.open_aperture - model.closed_aperture)


def test_selection_follows_targets_in_runs_and_skips_faceless_frames():
    n = 120
    t = np.arange(n)
    aperture = (0.05 + 0.05 * np.sin(t / 6.0)).astype(np.float32)
    width = np.full(n, 0.9, np.float32)
    valid = np.ones(n, bool)
    valid[60:70] = False
    model = retrieval.PersonModel(0.0, 0.1, 0.9, 0.9, 0.05, None, None, None)
    # Ask for a stretch of the template (frames 20..59) played in order: runs should be found and followed.
    targets = np.stack([aperture[20:60], width[20:60]], 1)
    mel = np.zeros((n, 4), np.float32)
    path = retrieval.select_frames(model, targets, aperture, width, valid, mel[:40], mel)
    assert not np.isin(path, np.arange(60, 70)).any()
    assert np.abs(aperture[path] - targets[:, 0]).mean() < 0.005
    assert (np.diff(path) == 1).mean() > 0.8  # mostly consecutive frames, few jumps


def _apertures(path):
    from inference.face import FaceTracker, mouth_shape
    from inference.media import iter_video_frames, video_geometry

    info = inference.probe(path)
    w, h, fps = video_geometry(info)
    tracker = FaceTracker(float(fps))
    out = []
    for frame in iter_video_frames(info):
        found = tracker.track(frame, w, h)
        out.append(mouth_shape(found[0])[0] if found else np.nan)
    tracker.close()
    return np.array(out)


@pytest.mark.slow
def test_retrieval_rests_the_mouth_in_silence(tmp_path, mk, real_template):
    silence = mk.write_audio(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32))
    report = inference.generate(real_template, silence, tmp_path / "out.mp4", inference.Config(preset="ultrafast"))
    assert report.backend == "retrieval" and "CPU engine" in report.backend_reason
    template = _apertures(real_template)[:50]
    out = _apertures(str(tmp_path / "out.mp4"))
    # The person's own rest mouth (this speaker pauses with parted lips), held still: not a speaking mouth.
    assert np.nanmedian(out) < 0.75 * np.nanmedian(template)
    assert np.nanstd(out) < 0.015


@pytest.mark.slow
def test_retrieval_changes_only_the_lower_face(tmp_path, mk, real_template):
    drive = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 3.0))
    config = inference.Config(preset="ultrafast", crf=10, debug=True)
    report = inference.generate(real_template, drive, tmp_path / "out.mp4", config)
    assert report.backend == "retrieval"
    sources, bases = report.debug["sources"], report.debug["bases"]
    assert (sources != bases).mean() > 0.5  # mouths really come from other frames
    out = mk.decode_rgb(str(tmp_path / "out.mp4"))
    base = mk.decode_rgb(real_template)
    # Above the nose nothing may change (beyond encoding noise); around the mouth, plenty does.
    upper = [np.abs(out[i][:260].astype(float) - base[bases[i]][:260]).mean() for i in range(len(out))]
    lower = [np.abs(out[i][330:420, 200:330].astype(float) - base[bases[i]][330:420, 200:330]).mean()
             for i in range(len(out))]
    assert max(upper) < 2.0
    assert np.mean(lower) > 2 * np.mean(upper)


def _model():
    return retrieval.PersonModel(0.01, 0.15, 0.9, 0.9, 0.05, np.linspace(0.01, 0.15, N_CLASSES).astype(np.float32),
                                 np.full(N_CLASSES, 0.9, np.float32), np.zeros(N_CLASSES))


def test_a_short_pause_between_words_does_not_shut_the_mouth_but_a_long_one_does():
    model = _model()
    open_class = N_CLASSES - 1
    classes = [open_class] * 10 + [SIL] * 3 + [open_class] * 10 + [SIL] * 25 + [open_class] * 10
    vad = np.array([0.0 if c == SIL else 1.0 for c in classes], np.float32)
    targets = retrieval.predict_targets(model, vad, _shares(classes))[:, 0]
    lead = retrieval.LEAD_FRAMES
    assert targets[11 - lead] > 0.5 * model.class_aperture[open_class]  # inside the 3-frame pause
    assert targets[35 - lead] <= model.closed_aperture + 1e-6  # inside the 1 s silence (no rest level set)


def test_an_audible_breath_before_speech_parts_the_lips_and_a_quiet_pause_does_not():
    # Two long pauses before speech: the first silent throughout, the second with an in-breath in its last
    # 0.4 s (20 dB over the floor), and a noise-floor flicker 2 s before the speech, out of the breath's reach.
    model = _model()
    open_class = N_CLASSES - 1
    classes = [open_class] * 10 + [SIL] * 30 + [open_class] * 10 + [SIL] * 60 + [open_class] * 10
    vad = np.array([0.0 if c == SIL else 1.0 for c in classes], np.float32)
    loud = np.where(vad > 0, -20.0, -60.0).astype(np.float32)
    loud[100:110] = -40.0  # the in-breath
    loud[60:62] = -45.0  # not before speech: stays at rest
    targets = retrieval.predict_targets(model, vad, _shares(classes), loud=loud)[:, 0]
    plain = retrieval.predict_targets(model, vad, _shares(classes))[:, 0]
    rest = model.closed_aperture
    parted = rest + retrieval.BREATH_OPEN * (model.open_aperture - rest)
    np.testing.assert_allclose(targets[:100], plain[:100], atol=1e-6)  # nothing changes before the breath
    assert (targets[103:108] >= parted - 1e-6).all() and plain[103:108].max() <= rest + 1e-6
    assert targets[15:35].max() <= rest + 1e-6  # the silent pause rests
    # Only lowers to rest or a closure never: the breath ramps in (no jump) within the speed limit.
    assert np.abs(np.diff(targets[95:112])).max() <= retrieval.MAX_STEP_IOD + 1e-6
    # Digital silence (the TTS case: no floor to stand over) changes nothing.
    silent_loud = np.where(vad > 0, -20.0, -120.0).astype(np.float32)
    np.testing.assert_allclose(retrieval.predict_targets(model, vad, _shares(classes), loud=silent_loud)[:, 0],
                               plain, atol=1e-6)


def test_the_voices_first_formant_sets_a_floor_under_speech_but_not_under_closures_or_pauses():
    # Recognition heard a narrow vowel all along; the first formant says the jaw opens wide mid-utterance.
    model = _model()
    narrow, open_class = 2, N_CLASSES - 1
    classes = [SIL] * 20 + [narrow] * 10 + [CLOSED] * 3 + [narrow] * 10 + [open_class] * 5 + [SIL] * 20
    vad = np.array([0.0 if c == SIL else 1.0 for c in classes], np.float32)
    heard = np.full(len(classes), model.closed_aperture, np.float32)
    heard[23:28] = 0.14  # wide open in the first run of the narrow vowel
    heard[30:33] = 0.14  # ... and through the recognised M
    heard[5:10] = 0.14  # noise in the pause
    plain = retrieval.predict_targets(model, vad, _shares(classes))[:, 0]
    floored = retrieval.predict_targets(model, vad, _shares(classes), heard=heard)[:, 0]
    assert plain[24:27].max() < 0.1 and (floored[24:27] >= 0.14 - 1e-6).all()
    assert floored[31] <= model.closed_aperture + 1e-6  # the M still closes
    np.testing.assert_allclose(floored[:18], plain[:18], atol=1e-6)  # the pause rests
    assert (floored >= plain - 1e-6).all()  # a floor only: never less open than the phones ask
    np.testing.assert_allclose(floored[40:48], plain[40:48], atol=1e-6)  # where the formant says less, the phones


def test_a_bilabial_whose_closure_the_vad_calls_silence_still_closes():
    # The closure of a P or B is silent: after a pause (bridged open, or at a parted rest mouth) and at the start
    # of an utterance its first frames have no voice.
    model = _model()
    model.rest_aperture = 0.05
    open_class = N_CLASSES - 1
    classes = [CLOSED] * 2 + [open_class] * 10 + [SIL] * 2 + [CLOSED] * 2 + [open_class] * 10
    vad = np.array([0.0 if c in (SIL, CLOSED) else 1.0 for c in classes], np.float32)
    targets = retrieval.predict_targets(model, vad, _shares(classes))[:, 0]
    lead = retrieval.LEAD_FRAMES
    assert targets[: 2 - lead].max() <= model.closed_aperture + 1e-6  # the utterance's first "p", before any voice
    assert targets[14 - lead : 16 - lead].max() <= model.closed_aperture + 1e-6  # a "b" after a short pause


def test_a_matching_voice_takes_the_acoustic_guess_in_speech_but_silence_stays_closed():
    model = _model()
    open_class = N_CLASSES - 1
    classes = [open_class] * 12 + [SIL] * 25 + [open_class] * 12
    vad = np.array([0.0 if c == SIL else 1.0 for c in classes], np.float32)
    guess = np.linspace(0.02, 0.2, len(classes)).astype(np.float32)  # distinct per frame: a shift would show
    targets = retrieval.predict_targets(model, vad, _shares(classes), guess, 1.0)[:, 0]
    speech = vad > 0
    speech[12 - retrieval.LEAD_FRAMES : 12] = False  # the lead moves the silence's start earlier
    speech[9:12] = speech[37:40] = False  # the frames that ramp into and out of the pause
    # Taken as it is, within the person's range (a regression may overshoot on sounds the template never made).
    np.testing.assert_allclose(targets[speech], np.minimum(guess[speech], 1.1 * model.open_aperture), rtol=1e-6)
    assert (targets[15:35] <= model.closed_aperture + 1e-6).all()


def test_speech_targets_span_the_persons_range_and_bilabials_close_fully():
    model = _model()
    model.class_aperture = np.linspace(0.01, 0.09, N_CLASSES).astype(np.float32)  # averages: short of 0.15
    open_class, spread, closed = N_CLASSES - 1, 5, CLOSED
    classes = ([spread] * 4 + [closed] * 3 + [open_class] * 4) * 4
    vad = np.ones(len(classes), np.float32)
    targets = retrieval.predict_targets(model, vad, _shares(classes))[:, 0]
    # The table's averages fall short of the person's widest opening; the targets reach it.
    assert np.percentile(targets, 95) >= model.open_aperture - 1e-6
    assert np.percentile(targets, 95) > np.percentile(_shares(classes) @ model.class_aperture, 95)
    bilabial = np.array(classes) == closed
    assert (targets[bilabial] <= model.closed_aperture + 1e-6).all()


def test_a_phone_lasting_seconds_counts_as_unrecognised_speech():
    fps, n = 25.0, 250
    vad = np.ones(n, np.float32)
    vad[100:110] = 0.0
    phones = [("AH", 0.0, 1.0)] + [("T", 1.0 + 0.1 * k, 1.1 + 0.1 * k) for k in range(10)] + [("AH", 2.0, 10.0)]
    lost = retrieval.unrecognised(phones, vad, fps)
    assert lost[:25].all() and lost[110:].all()  # the 1 s and 8 s "phones"
    assert not lost[25:50].any() and not lost[100:110].any()  # real short phones; silence is not speech


def test_voice_match_and_acoustic_guess():
    rng = np.random.default_rng(0)
    profile = rng.normal(0, 1, 26).astype(np.float32)
    assert retrieval.voice_match(profile, profile) == 1.0
    assert retrieval.voice_match(profile, profile + 2.0 * rng.normal(0, 1, 26)) == 0.0


@pytest.mark.parametrize("dims", [26, 100])  # 100 x 5 context dims > 400 frames: the dual form
def test_the_same_voice_guess_learns_sound_to_mouth_from_the_template(dims):
    rng = np.random.default_rng(0)
    # Paired data: the mouth opens with band 3 of the sound. Frames without a face carry nonsense apertures.
    template = rng.normal(0, 1, (400, dims)).astype(np.float32)
    aperture = (0.08 + 0.03 * template[:, 3] + rng.normal(0, 0.005, 400)).astype(np.float32)
    valid = rng.random(400) > 0.1
    aperture[~valid] = 5.0
    drive = rng.normal(0, 1, (3000, dims)).astype(np.float32)  # longer than one slice of driving frames
    truth = 0.08 + 0.03 * drive[:, 3]
    guess = retrieval.acoustic_aperture(drive, template, aperture, valid)
    assert guess.shape == (3000,) and guess.dtype == np.float32
    assert np.corrcoef(guess, truth)[0, 1] > 0.8
    # Never outside the person's own measured range (valid frames only).
    assert guess.min() >= aperture[valid].min() - 1e-6 and guess.max() <= aperture[valid].max() + 1e-6
    # Slicing the driving side changes nothing.
    np.testing.assert_allclose(guess[2500:2600], retrieval.acoustic_aperture(drive[2498:2602], template, aperture,
                                                                             valid)[2:-2], rtol=1e-5)


def test_familiarity_tells_sounds_the_template_spans_from_sounds_it_never_made():
    rng = np.random.default_rng(0)
    # The template's sounds live on a few directions of the 26 bands; "familiar" audio on the same ones,
    # "foreign" audio on others.
    own = rng.normal(0, 1, (4, 26))
    other = rng.normal(0, 1, (4, 26))

    def speech(directions, n):
        return (rng.normal(0, 1, (n, len(directions))) @ directions + 0.05 * rng.normal(0, 1, (n, 26))).astype(
            np.float32)

    template, vad = speech(own, 300), np.ones(300, np.float32)
    assert retrieval.familiarity(speech(own, 200), template, np.ones(200), vad) == 1.0
    assert retrieval.familiarity(speech(other, 200), template, np.ones(200), vad) == 0.0
    # Only speech frames count: silence (VAD below 0.5) is ignored on both sides.
    mixed = np.concatenate([speech(own, 200), speech(other, 200)])
    assert retrieval.familiarity(mixed, template, np.r_[np.ones(200), np.zeros(200)], vad) == 1.0
    assert retrieval.familiarity(speech(own, 200), template, np.zeros(200), vad) == 0.0
    assert retrieval.acoustic_blend(0.0, 1.0) == retrieval.MIN_ACOUSTIC_BLEND
    assert retrieval.acoustic_blend(1.0, 0.0) == retrieval.MAX_ACOUSTIC_BLEND
    assert retrieval.acoustic_blend(0.0, 0.0) == 0.0


def test_sources_keep_the_base_frames_expression():
    from inference.face import smile

    lm = np.zeros((478, 2), np.float32)
    lm[33], lm[263] = (0, 0), (100, 0)  # eyes level, 100 px apart
    lm[13], lm[14] = (50, 80), (50, 90)
    lm[61], lm[291] = (30, 85), (70, 85)
    assert smile(lm) == pytest.approx(0.0)
    lm[61, 1] = lm[291, 1] = 80  # corners lifted by 5 px
    assert smile(lm) == pytest.approx(0.05)

    # Forty template frames of the same mouth shapes, the first twenty neutral, the last twenty smiling; the
    # base frames smile, so the mouths come from the smiling half.
    n = 40
    aperture = np.tile(np.linspace(0.01, 0.15, 20), 2).astype(np.float32)
    width = np.full(n, 0.9, np.float32)
    look = np.zeros((n, 3), np.float32)
    look[20:, 2] = 0.05 * (retrieval.POSE_SCALE / retrieval.SMILE_SCALE)
    model = retrieval.PersonModel(0.01, 0.15, 0.9, 0.9, 0.05, None, None, None)
    targets = np.stack([aperture[:20], width[:20]], 1)
    mel = np.zeros((n, 4), np.float32)
    path = retrieval.select_frames(model, targets, aperture, width, np.ones(n, bool), mel[:20], mel, look,
                                   np.repeat(look[20:21], 20, 0))
    assert (path >= 20).all()


def test_the_open_level_is_the_widest_the_person_opens_even_between_phrases():
    # A person who opens widest when taking a breath between phrases (vad low there).
    n = 200
    aperture = np.full(n, 0.06, np.float32)
    aperture[::4] = 0.1  # speech: up to 0.1
    aperture[150:] = 0.3  # between phrases: wide open
    vad = np.ones(n, np.float32)
    vad[150:] = 0.0
    shares = _shares([N_CLASSES - 1] * n)
    model = retrieval.person_model(aperture, np.full(n, 0.9, np.float32), np.ones(n, bool), vad, shares)
    assert model.open_aperture == pytest.approx(0.3)


def test_the_phone_free_fallback_opens_with_the_first_formant():
    from inference.speech import formant_openness

    # "ee aa ee aa" at one loudness, with pauses: only the first formant tells the vowels apart.
    gap = np.zeros(int(0.2 * 16000), np.float32)
    parts = [gap, vowel(300, 0.4), gap, vowel(800, 0.4), gap, vowel(300, 0.4), gap, vowel(800, 0.4), gap]
    samples = np.concatenate(parts)
    fps = 25.0
    openness = formant_openness(samples, int(len(samples) / 16000 * fps), fps)
    spans, t = [], 0.0
    for part in parts:
        spans.append((int(round((t + 0.06) * fps)), int((t + len(part) / 16000 - 0.06) * fps)))
        t += len(part) / 16000
    ee = [openness[a:b].mean() for a, b in spans[1::4]]
    aa = [openness[a:b].mean() for a, b in spans[3::4]]
    assert min(aa) > max(ee) + 0.3, (aa, ee)
    assert max(openness[a:b].max() for a, b in spans[::2]) == 0.0  # the pauses



def test_the_templates_own_voice_closes_its_recognised_bilabials():
    # Self-reconstruction: the template's own voice drives it (voice match 1), and its acoustic guess, learned
    # from the template's frames, says open through a short M; the recognised M still closes the lips.
    from inference.backends.base import Job
    from inference.config import Config
    from inference.speech import SpeechAnalysis, class_shares
    from inference.template import Track

    fps, n = 25.0, 100
    rng = np.random.default_rng(0)
    vad = np.ones(n, np.float32)
    vad[:10] = vad[90:] = 0
    aperture = np.where(vad > 0, 0.12 + 0.01 * rng.standard_normal(n), 0.005).astype(np.float32)
    mel = rng.standard_normal((n, 26)).astype(np.float32)
    said = [("AA", i / fps, (i + 5) / fps) for i in range(10, 90, 5)]  # sounds of 0.2 s, as phones last
    heard = [p for p in said if not 50 <= p[1] * fps < 55] + [("M", 50 / fps, 53 / fps), ("AA", 53 / fps, 55 / fps)]
    loud = np.where(vad > 0, -20.0, -90.0).astype(np.float32)
    profile = np.ones(26, np.float32)

    def analysis(phones):
        return SpeechAnalysis(vad, mel, loud, np.zeros(n, np.float32), profile, phones, class_shares(phones, n, fps))

    track = Track(raw=np.zeros((n, 478, 2), np.float32), smooth=np.zeros((n, 478, 2), np.float32),
                  valid=np.ones(n, bool), aperture=aperture, width=np.full(n, 0.9, np.float32),
                  pose=np.zeros((n, 2), np.float32))
    job = Job(Config(), "cpu", 0, 0, fps, n, np.arange(n), track, None, np.zeros(n * 640, np.float32))
    job.drive, job.template = analysis(heard), analysis(said)
    plan = retrieval.plan(job, lambda *args, **kwargs: None)
    assert plan["voice_match"] == 1.0
    targets = plan["targets"][:, 0]
    assert targets[51] <= plan["person"].closed_aperture + 1e-6
    assert targets[30] > 0.1 and targets[70] > 0.1
