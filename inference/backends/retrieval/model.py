"""Shape-guided unit selection: which template frame's mouth to show for each output frame.

Following engine-findings.md: matching sounds directly (MFCCs) works only for the template speaker's own voice,
while predicting a target mouth shape from the driving audio's phone classes and retrieving the template frame
nearest that shape works across speakers. So:

1. From the template (its frames' measured mouth shape and its own audio's phone classes) build a per-person
   table: mean aperture and width per viseme class, shrunk toward a generic phonetic prior scaled to this
   person's own closed-to-open range (most classes have only a handful of template frames).
2. For the driving audio, predict a target (aperture, width) per frame: the person's closed pose for silence
   and P B M, the table elsewhere, blended over neighbouring frames (coarticulation).
3. Choose template frames by Viterbi: cost = distance to the target shape + a small acoustic term (breaks ties
   toward frames that also sound alike, which helps most when the driving voice is the template's own), with
   free continuation to the next template frame and a price on jumps, so mouths move in real runs of frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...speech import CLOSED, N_CLASSES, OPEN_PRIOR, SIL, WIDTH_PRIOR, formant_openness

SHRINK_FRAMES = 8.0  # prior weight, in template frames, when averaging a class's measured shape
HOLD_COST = 1.5  # showing the same template frame again (a frozen mouth)
JUMP_COST = 8.0  # leaving the current run of template frames
ACOUSTIC_WEIGHT = 0.25
POSE_WEIGHT = 0.3  # tuned on the shared clips: stronger pose matching starved short templates of mouths
# Pauses shorter than this keep the mouth where speech left it instead of closing it. Measured on the planner's
# targets (lipeval judges, shared clips): 0.24 s -> 0.6 s lifted self-reconstruction +0.42 -> +0.47 and TTS sync
# on true phones +0.35 -> +0.37 (flat beyond 0.6 s): real mouths stay parted through hesitations and breaths.
PAUSE_S = 0.6
BRIDGE = 0.9  # share of the bridge (vs the silence's own closed target) in a bridged pause
# Frames by which the phone-driven shapes lead their sound. 1 scored a little better on self-reconstruction
# (+0.365 vs +0.348 selection-only, within the clips' noise) but clearly worse on the cross-speaker phone judge
# (d' open vowels vs P B M 1.15 vs 1.99): a one-frame lead misses a third of a short bilabial closure.
LEAD_FRAMES = 0
# An audible breath before speech: people draw it through parted lips. Pause frames within BREATH_S of the next
# speech whose loudness stands BREATH_DB over the recording's quiet floor open BREATH_OPEN of the way from rest to
# the person's open level (the shared clips' real mouths open 0.5-1.0 of their range while they breathe in before
# an utterance). Digital silence and a steady noise floor have no such frames.
BREATH_S = 0.8
BREATH_DB = 10.0
BREATH_OPEN = 0.5
# Share of the same-voice aperture guess (``acoustic_aperture``) in the target: its full weight for a voice that
# matches the template's (``voice_match``) or for audio whose sounds the template's own speech spans
# (``familiarity``; voice_match misses the template's own voice behind another microphone or codec). Synthetic or
# foreign speech gets none: on espeak-ng Mandarin a 40 % share for every voice cut the phone judge's rho from
# +0.47 to +0.32. Measured on the shared clips' targets (lipeval judges, 2026-11-30): raising the familiar share
# from 0.4 to 1.0 lifted self-reconstruction +0.32 -> +0.39 and other real speakers +0.37 -> +0.39; TTS unchanged
# (its familiarity is about 0). The guess alone correlates +0.53 with the real held-out mouths, the phone table
# +0.04 (-0.56 on one clip), so for a familiar voice the table only fills in where the guess has no say.
MAX_ACOUSTIC_BLEND = 1.0
MIN_ACOUSTIC_BLEND = 1.0
FAMILIAR_RATIO = (1.6, 2.0)  # familiarity 1 at or below the first residual ratio, 0 from the second
POSE_SCALE = 0.04  # a nose-to-eyes offset change of 4 % of the interocular distance costs as much as 1 shape unit
POSE_LIMIT = 2.5  # in POSE_SCALE units
SMILE_SCALE = 0.03  # a corner lift difference of 3 % of the interocular distance costs as much as POSE_SCALE
CLOSURE_WEIGHT = 1.5
# Inner-lip gap (interocular distances) of lips that touch, as FaceMesh measures it (real closed mouths: about
# 0.003-0.01): the closed level of a person whose template never closes its mouth.
LIPS_TOGETHER = 0.01
RIDGE = 100.0  # regularisation of the same-voice aperture regression (acoustic_aperture)


@dataclass
class PersonModel:
    """Mouth-shape statistics of the template's person. Apertures and widths are divided by interocular."""

    closed_aperture: float
    open_aperture: float
    closed_width: float
    width_median: float
    width_spread: float
    class_aperture: np.ndarray  # (N_CLASSES,) float32
    class_width: np.ndarray  # (N_CLASSES,) float32
    class_frames: np.ndarray  # (N_CLASSES,) template frames measured per class
    # The person's mouth at rest in pauses (often parted a little); None: the closed level.
    rest_aperture: float | None = None


OPEN_PERCENTILE = 90  # speech targets are stretched so this percentile reaches the person's wide-open level


def person_model(aperture, width, valid, vad, shares) -> PersonModel:
    """Build the table from template arrays: ``aperture``, ``width`` float (N,), ``valid`` bool (N,) face found,
    ``vad`` (N,) speech probability, ``shares`` (N, N_CLASSES) viseme shares of the template's own audio."""
    cls = shares.argmax(1)
    speech = valid & (vad >= 0.5) & (cls != SIL)
    quiet = valid & ((vad < 0.3) | (cls == CLOSED))
    ap_valid = aperture[valid]
    # Closed: the person's own closed lips (P B M must reach them); rest: how they hold their mouth in pauses.
    closed = min(float(np.percentile(ap_valid, 5)), LIPS_TOGETHER)
    closed_w = float(np.median(width[quiet])) if quiet.sum() >= 5 else float(np.median(width[valid]))
    pauses = valid & (vad < 0.3)  # real pauses only: P B M inside words are not rest
    rest = float(np.median(aperture[pauses])) if pauses.sum() >= 5 else closed
    ref = aperture[speech] if speech.sum() >= 10 else ap_valid
    # Wide open: the widest the person opens in speech, or anywhere (some open widest between phrases, taking a
    # breath): open vowels reached only 0.56 of that range on such a clip with the speech level alone.
    open_ = max(float(np.percentile(ref, 95)), float(np.percentile(ap_valid, 95)), closed + 0.02)
    wref = width[speech] if speech.sum() >= 10 else width[valid]
    w_med, w_spread = float(np.median(wref)), float(max(np.std(wref), 0.01))
    prior_a = closed + OPEN_PRIOR * (open_ - closed)
    prior_w = w_med + WIDTH_PRIOR * w_spread
    class_a, class_w, counts = prior_a.copy(), prior_w.copy(), np.zeros(N_CLASSES)
    for c in range(N_CLASSES):
        sel = speech & (cls == c)
        n = float(sel.sum())
        counts[c] = n
        if n:
            class_a[c] = (aperture[sel].sum() + SHRINK_FRAMES * prior_a[c]) / (n + SHRINK_FRAMES)
            class_w[c] = (width[sel].sum() + SHRINK_FRAMES * prior_w[c]) / (n + SHRINK_FRAMES)
    class_a[SIL] = class_a[CLOSED] = closed
    class_w[SIL] = class_w[CLOSED] = closed_w
    return PersonModel(closed, open_, closed_w, w_med, w_spread, class_a.astype(np.float32),
                       class_w.astype(np.float32), counts, min(rest, closed + 0.3 * (open_ - closed)))


def acoustic_aperture(drive_mel, template_mel, aperture, valid, device: str = "cpu",
                      ridge: float = RIDGE) -> np.ndarray:
    """Speaker-dependent aperture guess per driving frame, float32 ``(T,)``.

    The template is paired data (every frame's sound next to its mouth), so a ridge regression from the sound
    (acoustic features over +-2 frames) to the inner-lip aperture is fitted on the template's own frames and
    applied to the driving audio. On the shared clips' held-out own speech it correlates +0.53 with the real
    mouth (nearest-sound averaging: +0.45; the phone table: +0.24), even on a clip whose two halves sound
    unalike. Across speakers it transfers only partly (engine-findings.md), so ``acoustic_blend`` decides its share.
    ``ridge`` (in units of standardised features) suits templates of a few seconds to minutes: it matters less
    as the template grows.
    """
    import torch

    def context(m, start=0, stop=None):
        return torch.from_numpy(_context(m, start, stop)).to(device).double()

    x = context(template_mel)[torch.from_numpy(valid).to(device)]
    y = torch.from_numpy(aperture[valid].astype(np.float64)).to(device)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / scale
    y_mean = y.mean()
    n, d = x.shape
    eye = torch.eye(min(n, d), dtype=x.dtype, device=device)
    if n >= d:
        w = torch.linalg.solve(x.T @ x + ridge * eye, x.T @ (y - y_mean))
    else:  # fewer frames than feature dimensions (wav2vec2 features on a short template): the dual form
        w = x.T @ torch.linalg.solve(x @ x.T + ridge * eye, y - y_mean)
    # Clipped to the person's own range: a regression can overshoot on sounds the template never made.
    lo, hi = float(np.min(aperture[valid])), float(np.max(aperture[valid]))
    out = np.empty(len(drive_mel), dtype=np.float32)
    # The driving side in slices: memory must not grow with the audio's length (wav2vec2 contexts are wide).
    for t0 in range(0, len(drive_mel), 2048):
        z = (context(drive_mel, t0, t0 + 2048) - mean) / scale
        out[t0 : t0 + len(z)] = (z @ w + y_mean).clamp(lo, hi).float().cpu().numpy()
    return out


def _context(features: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows ``start..stop`` of the +-2-frame context of per-frame ``features`` (T, D): (rows, 5 * D), edges
    repeated."""
    stop = len(features) if stop is None else min(stop, len(features))
    p = np.pad(features, ((2, 2), (0, 0)), mode="edge")[start : stop + 4]
    return np.concatenate([p[i : i + stop - start] for i in range(5)], 1)


def acoustic_blend(match: float, familiar: float) -> float:
    """Share of the same-voice aperture guess in the target, from ``voice_match`` and ``familiarity``."""
    return max(MAX_ACOUSTIC_BLEND * match, MIN_ACOUSTIC_BLEND * familiar)


def familiarity(drive_mel, template_mel, drive_vad, template_vad, components: int = 10) -> float:
    """0..1: how well the template's own speech spans the driving speech's sounds.

    The +-2-frame log-mel contexts of the template's speech frames give ``components`` principal directions; the
    share of the driving speech's energy outside them, divided by the same share for the template's own frames,
    is about 1.2-1.75 for a recording's own held-out speech, 0.8-2.4 for other real English voices and 2.0-3.7
    for espeak-ng Mandarin on the shared clips (measured with the template's audio through AAC).
    """
    x, z = _context(template_mel)[template_vad >= 0.5], _context(drive_mel)[drive_vad >= 0.5]
    if len(x) <= components or len(z) == 0:
        return 0.0
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x, z = (x - mean) / scale, (z - mean) / scale
    basis = np.linalg.svd(x, full_matrices=False)[2][:components]

    def outside(a):
        return float(np.sum((a - a @ basis.T @ basis) ** 2) / max(np.sum(a**2), 1e-9))

    ratio = outside(z) / max(outside(x), 1e-9)
    lo, hi = FAMILIAR_RATIO
    return float(np.clip((hi - ratio) / (hi - lo), 0.0, 1.0))


def voice_match(drive_profile: np.ndarray, template_profile: np.ndarray) -> float:
    """0..1: how alike the two recordings' average spectra are (1: same voice and microphone, as when the
    template's own speech drives it; 0: clearly another voice or channel). A coarse heuristic measured on the
    shared clips (rms distance of the log-mel profiles): a recording against its own held-out part 0.44-0.65
    (one clip 1.5), other speakers against the templates 0.66-2.0. Full weight up to 0.6, none from 0.72."""
    dist = float(np.sqrt(np.mean((drive_profile - template_profile) ** 2)))
    return float(np.clip((0.72 - dist) / 0.12, 0.0, 1.0))


def predict_targets(model: PersonModel, vad: np.ndarray, shares: np.ndarray, acoustic=None,
                    acoustic_weight: float = 0.0, fps: float = 25.0, loud: np.ndarray | None = None,
                    heard: np.ndarray | None = None) -> np.ndarray:
    """Target mouth shape per driving frame: float32 ``(T, 2)`` of (aperture, width).

    A short [1, 2, 1] blend stands for coarticulation. Then the constraints the renderer must meet within the
    person's own range: speech spans the person's closed-to-open range (the class table averages many frames,
    so its peaks fall short of how wide the person really opens: measured, open vowels reached about half the
    range), P B M close fully, and pauses rest at the person's own rest mouth. Recognised P B M close for every
    voice, the template's own included: the same-voice acoustic guess rarely closes (measured on the plan's
    self-reconstruction, 5 shared people: +0.500 -> +0.536, man_map +0.46 -> +0.66, with English words
    recognised; in an earlier round, with all-phone decoding whose P B M were real 59 % of the time, closing
    them had cost 0.03). ``loud`` (T,) dBFS: breaths before speech part the lips (``breaths``). ``heard`` (T,):
    the voice's own first-formant opening (``heard_aperture``), which voiced frames other than P B M open to at
    least.
    """
    shares = shares.copy()
    # Recognised P B M before the voice activity gate: the closure of a P or B is silent (the lips are sealed
    # before the burst), so a stop after a pause or at the start of an utterance falls in frames the VAD calls
    # silence. Closing only where the VAD hears speech left those lips at rest or bridged open (measured: 2 of 57
    # recognised P/B/M on 8 rendered TTS clips, e.g. a clip's first "please").
    said_closed = shares[:, CLOSED] >= 0.5
    silent = vad < 0.5
    shares[silent] = 0
    shares[silent, SIL] = 1
    ap = shares @ model.class_aperture
    wd = shares @ model.class_width
    # People do not shut their mouths in every short pause between words (the real held-out mouths of the
    # shared clips stay open through them): a pause shorter than PAUSE_S is bridged from its neighbours.
    pause = silent | (shares[:, SIL] >= 0.5)
    for start, end in _runs(pause):
        if 0 < start and end < len(ap) and end - start < PAUSE_S * fps:
            ramp = np.linspace(0, 1, end - start + 2)[1:-1]
            ap[start:end] = BRIDGE * (ap[start - 1] + (ap[end] - ap[start - 1]) * ramp) + (1 - BRIDGE) * ap[start:end]
            wd[start:end] = wd[start - 1] + (wd[end] - wd[start - 1]) * ramp
            silent[start:end] = False
            shares[start:end, SIL] = 0
    kernel = np.array([0.25, 0.5, 0.25], dtype=np.float32)
    if len(ap) >= 3:
        ap = np.convolve(np.pad(ap, 1, mode="edge"), kernel, mode="valid")
        wd = np.convolve(np.pad(wd, 1, mode="edge"), kernel, mode="valid")
    # Lips may move ahead of the sound they make: show each shape LEAD_FRAMES early (see LEAD_FRAMES).
    if LEAD_FRAMES and len(ap) > LEAD_FRAMES:
        ap = np.concatenate([ap[LEAD_FRAMES:], np.repeat(ap[-1:], LEAD_FRAMES)])
        wd = np.concatenate([wd[LEAD_FRAMES:], np.repeat(wd[-1:], LEAD_FRAMES)])
        silent = np.concatenate([silent[LEAD_FRAMES:], np.repeat(silent[-1:], LEAD_FRAMES)])
        shares = np.concatenate([shares[LEAD_FRAMES:], np.repeat(shares[-1:], LEAD_FRAMES, 0)])
        said_closed = np.concatenate([said_closed[LEAD_FRAMES:], np.repeat(said_closed[-1:], LEAD_FRAMES)])
    if acoustic is not None and acoustic_weight > 0:
        # Blended after the lead: the acoustic guess comes from real frames whose mouths already led their
        # sound, so shifting it again put it a frame early (measured: -0.02..-0.08 correlation).
        ap = np.where(silent, ap, (1 - acoustic_weight) * ap + acoustic_weight * acoustic)
    ap = _span_range(ap, ~silent, model)
    if heard is not None:
        # Recognition on a real voice misses or misplaces sounds; the first formant rises wherever the jaw really
        # opens, so the lips open at least that far (never less than the phones ask: open-vowel reach keeps).
        # Planned on the five shared people: other real speakers +0.333 -> +0.348 (each person up), English TTS
        # +0.461 -> +0.463, reach 0.935 -> 0.941; a plain blend instead cost reach (w 0.15: 0.917).
        voiced = (vad >= 0.5) & ~said_closed
        ap = np.where(voiced, np.maximum(ap, heard), ap)
    bilabial = said_closed
    breath = breaths(loud, silent, fps) if loud is not None else None
    ap = _limit_speed(_constrain(ap, silent, bilabial, model, breath), model, fps)
    return np.stack([ap, wd], 1).astype(np.float32)


MAX_STEP = 0.35  # of the person's closed-to-open range per frame at 25 fps: real lips take 2-3 frames to close
# ... and never more than this many interocular distances per frame at 25 fps, whatever the range: on a person
# who opens wide (0.29 on the shared portrait clip) a third of the range is 0.1 a frame, which the judge's lip
# jitter counts as a jump (real footage: under 4 % of steps move the lips 0.05).
MAX_STEP_IOD = 0.065


def _limit_speed(ap: np.ndarray, model: PersonModel, fps: float = 25.0) -> np.ndarray:
    """Ramps into and out of every dip: no frame step larger than MAX_STEP of the range (nor MAX_STEP_IOD),
    and each closure
    still reaches its level (the two passes only lower values, so minima stay where they are). A mouth that
    snaps shut in one frame reads as a jump, not as speech."""
    step = min(MAX_STEP * (model.open_aperture - model.closed_aperture), MAX_STEP_IOD) * 25.0 / fps
    out = ap.astype(np.float32).copy()
    for t in range(1, len(out)):
        out[t] = min(out[t], out[t - 1] + step)
    for t in range(len(out) - 2, -1, -1):
        out[t] = min(out[t], out[t + 1] + step)
    return out


SPAN_GAIN = (1.0, 2.0)  # how far speech targets may be stretched to span the person's range


def _span_range(ap: np.ndarray, speech: np.ndarray, model: PersonModel) -> np.ndarray:
    """Stretch the speech frames' openings about the closed level so their OPEN_PERCENTILE-th percentile is the
    person's own wide-open level (measured: at the 95th, half the open vowels stayed below 0.77 of the person's
    range; at the 90th 0.90, with sync unchanged within noise)."""
    if speech.sum() < 5:
        return ap
    top = float(np.percentile(ap[speech], OPEN_PERCENTILE)) - model.closed_aperture
    gain = float(np.clip((model.open_aperture - model.closed_aperture) / max(top, 1e-4), *SPAN_GAIN))
    stretched = model.closed_aperture + (ap - model.closed_aperture) * gain
    return np.where(speech, np.minimum(stretched, model.open_aperture * 1.1), ap)


def breaths(loud: np.ndarray, silent: np.ndarray, fps: float) -> np.ndarray:
    """bool (T,): pause frames that breathe in before speech: within BREATH_S of the next speech frame, and
    BREATH_DB louder than the recording's quiet floor (the 10th percentile of its pause frames)."""
    out = np.zeros(len(silent), bool)
    if silent.sum() < 5 or silent.all():
        return out
    audible = loud >= np.percentile(loud[silent], 10) + BREATH_DB
    reach = int(round(BREATH_S * fps))
    for start, end in _runs(silent):
        if end < len(silent):  # a pause that speech follows
            lo = max(start, end - reach)
            out[lo:end] = audible[lo:end]
    return out


def _constrain(ap: np.ndarray, silent: np.ndarray, bilabial: np.ndarray, model: PersonModel,
               breath: np.ndarray | None = None) -> np.ndarray:
    """Pauses at the person's rest mouth, parted where the speaker breathes in (``breaths``), P B M fully
    closed (also where they fall in a pause: a stop's silent closure)."""
    ap = ap.copy()
    rest = model.closed_aperture if model.rest_aperture is None else model.rest_aperture
    ap[silent] = rest
    if breath is not None:
        ap[breath] = rest + BREATH_OPEN * max(model.open_aperture - rest, 0.0)
    ap[bilabial] = np.minimum(ap[bilabial], model.closed_aperture)
    return ap


LONG_PHONE_S = 0.5  # a "phone" this long during speech is a recogniser failure, not a sound


def unrecognised(phones, vad: np.ndarray, fps: float) -> np.ndarray:
    """bool (T,): speech frames the phones do not describe: covered by no phone or by one lasting more than
    LONG_PHONE_S (measured: a recogniser that loses track returns one segment of many seconds, which froze the
    mouth for a whole 25 s reading)."""
    n = len(vad)
    covered = np.zeros(n, bool)
    for _, start, end in phones or ():
        if end - start <= LONG_PHONE_S:
            covered[int(start * fps) : int(np.ceil(end * fps))] = True
    return (vad >= 0.5) & ~covered


def heard_aperture(openness: np.ndarray, vad: np.ndarray, model: PersonModel) -> np.ndarray:
    """A phone-free opening per frame (T,) in the person's range, from ``speech.formant_openness`` (the first
    formant, times loudness; its 10th..95th percentile in speech spread over the person's closed..open range):
    open vowels open wider, in any language."""
    speech = vad >= 0.5
    ref = openness[speech] if speech.sum() >= 5 else openness
    lo, hi = np.percentile(ref, 10), np.percentile(ref, 95)
    opening = np.clip((openness - lo) / max(hi - lo, 1e-3), 0, 1)
    if len(opening) >= 3:
        opening = np.convolve(np.pad(opening, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    return (model.closed_aperture + opening * (model.open_aperture - model.closed_aperture)).astype(np.float32)


def heard_targets(model: PersonModel, drive, samples: np.ndarray, acoustic=None, acoustic_weight: float = 0.0,
                  same_voice: bool = False, fps: float = 25.0) -> np.ndarray:
    """Target mouth shape per driving frame, float32 ``(T, 2)``, for a voice that is not English
    (``Config.speech_language`` "other"): every speech frame opens with the voice's first formant
    (``heard_aperture``), blended with the same-voice guess like the phone path (it learned sound to mouth from
    the template's own frames, so it holds in any language the template speaks). The phones, where there are
    any (all-phone decoding: no English words), plan the rest as on the phone path (``predict_targets``): short
    pauses bridged, long ones at rest, P/B/M closed. ``drive`` the ``SpeechAnalysis`` of ``samples``.

    Measured on the plan (``bench/plan_quality.py --tts-clips 8 --speech-language other``, the five shared
    people): Mandarin sync +0.375 (as English: +0.073). With no phones at all +0.293 (every short pause at rest,
    where real mouths stay parted); with all-phone decoding but no P/B/M closures +0.384, within noise of
    +0.375, while the closures close 0.892 of Mandarin's true P/B/M instead of 0.843 and halve what marking an
    English voice "other" costs (English TTS +0.279 instead of +0.193; +0.461 as English)."""
    shares = drive.shares
    if shares is None:  # no phones: all silence, so only the voice activity sets pauses
        shares = np.zeros((len(drive.vad), N_CLASSES), np.float32)
        shares[:, SIL] = 1
    targets = predict_targets(model, drive.vad, shares, acoustic, acoustic_weight, fps, drive.loud)
    heard = heard_aperture(formant_openness(samples, len(drive.vad), fps), drive.vad, model)
    if acoustic is not None and acoustic_weight > 0:
        heard = (1 - acoustic_weight) * heard + acoustic_weight * acoustic
    follow = drive.vad >= 0.5
    # The template's own voice keeps what it hears over all-phone P/B/M (real 59 % of the time, against 82 % for the
    # phone path's recognised words, which close for every voice).
    if not same_voice:
        follow &= shares[:, CLOSED] < 0.5
    return follow_heard(targets, heard, follow, model, fps)


def follow_heard(targets: np.ndarray, heard: np.ndarray, frames: np.ndarray, model: PersonModel,
                 fps: float = 25.0) -> np.ndarray:
    """``targets`` (T, 2) with the aperture of ``frames`` (bool, T) taken from ``heard`` (T,), then the lip speed
    limit over the whole: no jump where the two kinds of frame meet. Changed in place and returned."""
    targets[frames, 0] = heard[frames]
    targets[:, 0] = _limit_speed(targets[:, 0], model, fps)
    return targets


def _runs(mask: np.ndarray):
    """(start, end) of each run of True in a bool array, end exclusive."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def select_frames(model: PersonModel, targets, aperture, width, valid, drive_mel, template_mel,
                  pose=None, base_pose=None, device: str = "cpu", should_cancel=None) -> np.ndarray:
    """Viterbi over template frames. Returns int64 ``(T,)``: the template frame index chosen per output frame.

    ``targets`` (T, 2) from ``predict_targets``; ``aperture``, ``width``, ``valid`` (N,) for the template;
    ``drive_mel`` (T, D) and ``template_mel`` (N, D) per-utterance normalised acoustic features (log-mels, or
    wav2vec2 features when configured). ``pose`` (N, 2) head
    pose of each template frame and ``base_pose`` (T, 2) that of the base frame each output frame is pasted on:
    a mouth taken from a differently turned head would not fit, so pose distance is priced. O(T * N) time: with
    free continuation j -> j+1 and one price for any jump, the best predecessor of a jump is the previous step's
    overall best, so no N x N transition matrix is needed.
    """
    import torch

    dev = torch.device(device)
    T, N = len(targets), len(aperture)
    sa = max((model.open_aperture - model.closed_aperture) * 0.15, 1e-3)
    sw = model.width_spread
    a = torch.from_numpy(aperture.astype(np.float32)).to(dev)
    w = torch.from_numpy(width.astype(np.float32)).to(dev)
    bad = torch.from_numpy(~valid).to(dev)
    tgt = torch.from_numpy(targets).to(dev)
    if pose is not None:
        pz = torch.from_numpy(pose.astype(np.float32)).to(dev)
        bz = torch.from_numpy(base_pose.astype(np.float32)).to(dev)
    dm = torch.from_numpy(drive_mel.astype(np.float32)).to(dev)
    tm = torch.from_numpy(template_mel.astype(np.float32)).to(dev)
    back = torch.zeros((T, N), dtype=torch.int8, device=dev)  # 0 continue from j-1, 1 hold j, 2 jump
    jump_from = torch.zeros(T, dtype=torch.int64, device=dev)
    score = None
    inf = torch.tensor(float("inf"), device=dev)
    chunk = 256
    for t0 in range(0, T, chunk):
        if should_cancel is not None and should_cancel():
            from ...errors import Cancelled

            raise Cancelled()
        tc = tgt[t0 : t0 + chunk]
        unit = ((a[None] - tc[:, :1]) / sa) ** 2 + 0.5 * ((w[None] - tc[:, 1:]) / sw) ** 2
        # A closure (P B M, silence) missed is the most visible sync error; weigh those frames' shape more so
        # continuity does not carry an open mouth through a short bilabial.
        closing = (tc[:, :1] <= model.closed_aperture + 0.1 * (model.open_aperture - model.closed_aperture))
        unit = unit * torch.where(closing, CLOSURE_WEIGHT, 1.0)
        acoustic = torch.cdist(dm[t0 : t0 + chunk], tm) ** 2 / dm.shape[1]
        unit = unit + ACOUSTIC_WEIGHT * acoustic
        if pose is not None:
            pd = torch.cdist(bz[t0 : t0 + chunk], pz) / POSE_SCALE
            # A mouth from a head turned clearly otherwise ghosts at the paste's edges (nostrils, jaw line,
            # earrings): beyond POSE_LIMIT it is all but ruled out, whatever its shape.
            unit = unit + POSE_WEIGHT * pd**2 + torch.where(pd > POSE_LIMIT, 25.0, 0.0)
        unit = torch.where(bad[None], inf, unit)
        for k in range(unit.shape[0]):
            t = t0 + k
            if score is None:
                score = unit[k].clone()
                continue
            cont = torch.cat([inf.view(1), score[:-1]])
            hold = score + HOLD_COST
            best = torch.argmin(score)
            jump = score[best] + JUMP_COST
            stacked = torch.stack([cont, hold, jump.expand(N)])
            score, choice = stacked.min(0)
            score = score + unit[k]
            back[t] = choice.to(torch.int8)
            jump_from[t] = best
    path = np.zeros(T, dtype=np.int64)
    j = int(torch.argmin(score))
    back_np = back.cpu().numpy()
    jump_np = jump_from.cpu().numpy()
    for t in range(T - 1, -1, -1):
        path[t] = j
        if t == 0:
            break
        code = back_np[t, j]
        j = j - 1 if code == 0 else (j if code == 1 else int(jump_np[t]))
    return path


def shape_model(track) -> PersonModel:
    """A person model from the template's mouth shapes alone (no speech of its own to label them): closed and
    open levels from the aperture's percentiles, the generic phonetic prior for every class."""
    valid = track.valid
    ap, wd = np.nan_to_num(track.aperture)[valid], np.nan_to_num(track.width)[valid]
    closed = min(float(np.percentile(ap, 5)), LIPS_TOGETHER)
    open_ = max(float(np.percentile(ap, 95)), closed + 0.06)
    wmed = float(np.median(wd))
    spread = max(float(np.std(wd)), 0.02)
    class_a = (closed + OPEN_PRIOR * (open_ - closed)).astype(np.float32)
    class_w = (wmed + WIDTH_PRIOR * spread).astype(np.float32)
    return PersonModel(closed, open_, wmed, wmed, spread, class_a, class_w, np.zeros(N_CLASSES))


def plan(job, progress) -> dict:
    """Targets and chosen template frames for a ``base.Job``: ``targets`` float32 (n_out, 2), ``sources`` int64
    (n_out,), and the voice measures that decided how much the same-voice acoustic guess counts."""
    from ...progress import Stage

    track, drive, tpl = job.track, job.drive, job.template
    valid = track.valid
    ap, wd = np.nan_to_num(track.aperture), np.nan_to_num(track.width)
    if tpl is not None and tpl.shares is not None:
        person = person_model(ap, wd, valid, tpl.vad, tpl.shares)
        match = voice_match(drive.profile, tpl.profile)
        familiar = familiarity(drive.mel, tpl.mel, drive.vad, tpl.vad)
        d_ac, t_ac = drive.matching, tpl.matching
    else:
        # No soundtrack of the template's own: shapes only, no acoustic terms.
        person, match, familiar = shape_model(track), 0.0, 0.0
        d_ac, t_ac = np.zeros((job.n_out, 1), np.float32), np.zeros((len(track), 1), np.float32)
    blend = acoustic_blend(match, familiar)
    acoustic = acoustic_aperture(d_ac, t_ac, ap, valid, job.device) if blend > 0 else None
    if job.config.speech_language != "en":
        # English words recognised in another language place few openings where they are (docs/benchmarks.md).
        targets = heard_targets(person, drive, job.samples, acoustic, blend, match >= 0.5, job.fps)
    else:
        heard = heard_aperture(formant_openness(job.samples, job.n_out, job.fps), drive.vad, person)
        # The template's own voice has its acoustic guess, learned from this person's frames: the formant floor
        # only added noise there (self-reconstruction +0.536 -> +0.523).
        targets = predict_targets(person, drive.vad, drive.shares, acoustic, blend, fps=job.fps, loud=drive.loud,
                                  heard=heard if match < 0.5 else None)
        lost = unrecognised(drive.phones, drive.vad, job.fps)
        if lost.any():
            # Where recognition failed, the first formant is what there is to follow (planned with every speech
            # frame counted as failed, bench/plan_quality.py on the shared people: Mandarin +0.38, English TTS
            # +0.21, other real speakers +0.22, where loudness, the earlier fallback, gave +0.04, +0.03 and -0.18).
            targets = follow_heard(targets, heard, lost, person, job.fps)
    progress(Stage.SELECT, 0.6, note="Choosing template frames", force=True)
    # Expression is matched like head pose: a mouth from a smiling frame on a neutral face (or the reverse)
    # changes the person's expression.
    look = track.pose if track.smile is None else np.concatenate(
        [track.pose, (track.smile * (POSE_SCALE / SMILE_SCALE))[:, None]], 1)
    sources = select_frames(person, targets, ap, wd, valid, d_ac, t_ac, look, look[job.bases], job.device,
                            should_cancel=lambda: progress(Stage.SELECT, 0.8) or False)
    return {"targets": targets, "sources": sources, "voice_match": match, "familiarity": familiar, "person": person}
