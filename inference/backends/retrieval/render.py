"""Rendering the retrieval plan: each output frame gets a real template mouth, lined up on the base frame's own
face, reshaped to the frame's target opening, and cross-faded with the previous source after a cut.

Why reshape: a few seconds of template rarely hold the exact shape every moment needs (no fully closed frame,
no wide vowel where one is due); choosing whole frames alone left m/b/p half open and wide vowels damped. The
chosen mouth is moved by a smooth displacement field over the lower face: the upper lip to where the base
frame's upper lip is, across and up or down (so the paste sits where the person's mouth is), the lower lip and
jaw so the inner-lip gap is the target's. Opening beyond what the source shows darkens the new gap like a
mouth's inside.
"""
from __future__ import annotations

import math

import numpy as np

from ...composite import Compositor, apply, lower_face_outline, similarity
from ...face import EYE_CORNERS, INNER_LIP_PAIRS, INNER_LIPS, MOUTH_CORNERS, STABLE_POINTS, interocular

FADE_FRAMES = 3  # a cut between template runs is cross-faded over this many frames
MAX_LIP_SHIFT = 0.12  # interocular distances the source's upper lip may be moved to meet the base's
MAX_OPEN = 0.35  # interocular distances the reshape may open a mouth beyond its source
UPPER_LIP = [0, 37, 267]  # FaceMesh: the upper outer lip's middle and two points either side of it
MIDLINE_FRAMES = 5  # template frames the lip's sideways offset is averaged over, centred


def crossfades(sources: np.ndarray, fade: int = FADE_FRAMES, shut: np.ndarray | None = None):
    """For each output frame, the previous run's source to blend in after a cut and its weight: int64 (T,)
    (-1 for none) and float32 (T,) in [0, 1). A cut is any step that neither continues (j -> j+1) nor holds.

    ``shut`` bool (T,): frames planned with the lips closed, which show their own source alone. Two sealed
    mouths whose lips sit a little apart blend into a double lip line that reads as parted (measured on 20
    rendered TTS clips: 2 of the 3 planned P/B/M closures that did not render closed were cross-fades)."""
    n = len(sources)
    other, weight = np.full(n, -1, np.int64), np.zeros(n, np.float32)
    for t in range(1, n):
        if sources[t] - sources[t - 1] in (0, 1):
            continue
        for k in range(fade):
            if t + k >= n or (k and sources[t + k] - sources[t + k - 1] not in (0, 1)):
                break
            other[t + k] = sources[t - 1] + 1 + k  # the old run carries on underneath, fading out
            weight[t + k] = (fade - k) / (fade + 1)
    if shut is not None:
        other[shut], weight[shut] = -1, 0.0
    return other, weight


def _displacement(ys, xs, geo: dict, shift: float, amplitude: float, clip, exp):
    """Vertical displacement (pixels, down positive) of the reshape at ``ys`` x ``xs`` (broadcasting arrays of
    numpy or torch, with the matching ``clip`` to [0, 1] and ``exp``): the whole mouth follows the upper lip's
    ``shift`` (fading in below the nose, out over the neck); the part below the upper inner lip also moves by
    ``amplitude``, most in the middle of the lips and across the whole jaw lower down. ``geo``: the mouth's
    centre x ``mx``, half width ``half``, interocular ``d`` and the rows of the nose, upper lip, moved inner lips
    and chin."""
    mx, half, d = geo["mx"], geo["half"], geo["d"]
    ramp = lambda y, a, z: clip((y - a) / max(z - a, 1.0))  # noqa: E731
    fade = 1 - ramp(ys, geo["chin"], geo["chin"] + 0.35 * d)
    broad = exp(-0.5 * ((xs - mx) / (0.8 * d)) ** 2)
    dy = shift * ramp(ys, geo["nose"], geo["upper"]) * fade * broad
    lens = clip(1 - ((xs - mx) / half) ** 2)
    jaw = exp(-0.5 * ((xs - mx) / (0.6 * d)) ** 2)
    mix = ramp(ys, geo["inner_l"], geo["chin"])
    return dy + amplitude * ramp(ys, geo["inner_u"], geo["inner_l"]) * fade * (lens + (jaw - lens) * mix)


def _gap_gain(s: np.ndarray, geo: dict, shift: float, delta: float) -> float:
    """How much of a unit amplitude the mean inner-lip gap (the three FaceMesh pairs) opens by, at the lips'
    moved positions: 1 in the middle, less towards the corners (at least 0.5, so a mouth is never torn)."""
    if abs(delta) < 1e-6:
        return 1.0
    gain = []
    for a, b in INNER_LIP_PAIRS:
        lo = (s[b, 1] + shift + delta, s[b, 0])
        up = (s[a, 1] + shift, s[a, 0])
        # Plain floats: numpy's per-call overhead on scalars cost 0.3 ms a reshape.
        move = [_displacement(float(y), float(x), geo, 0.0, 1.0, lambda v: min(max(v, 0.0), 1.0), math.exp)
                for y, x in (lo, up)]
        gain.append(move[0] - move[1])
    return float(np.clip(np.mean(gain), 0.5, 1.0))


def _aperture_px(lm: np.ndarray) -> float:
    return float(np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in INNER_LIP_PAIRS]))


def lip_midlines(raw: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each template frame's upper lip sits across the face: float32 (N,) in interocular distances along
    the eye line, relative to where the stable points (eyes, nose) put the face (NaN for frames with no face),
    as measured and averaged over MIDLINE_FRAMES centred frames.

    A turned head's mouth moves sideways against its eyes and nose, which the paste's fit on those points cannot
    follow. A source mouth is moved by its averaged offset (the whole track is known before the render, so this
    costs no lag): moved by its own frame's landmarks, their noise (about 0.01 interocular distances) shook the
    pasted mouth sideways (measured: more lip jumps than the placement gained). The base frame's offset as
    measured is where its own mouth is."""
    n = len(raw)
    out = np.full(n, np.nan, np.float32)
    good = np.flatnonzero(valid)
    if not len(good):
        return out
    stable = list(STABLE_POINTS)
    ref = raw[good[len(good) // 2]].astype(np.float64)
    eyes = ref[EYE_CORNERS[1]] - ref[EYE_CORNERS[0]]
    d = max(float(np.linalg.norm(eyes)), 1.0)
    axis = eyes / d
    for j in good:
        m = similarity(raw[j][stable].astype(np.float64), ref[stable])
        out[j] = float((apply(m, raw[j][UPPER_LIP].astype(np.float64)).mean(0) - ref[stable].mean(0)) @ axis) / d
    known = ~np.isnan(out)
    kernel = np.ones(MIDLINE_FRAMES, np.float32)
    total = np.convolve(np.where(known, out, 0), kernel, mode="same")
    count = np.convolve(known.astype(np.float32), kernel, mode="same")
    return out, np.where(known, total / np.maximum(count, 1), np.nan).astype(np.float32)


class MouthRenderer:
    """Pastes planned mouths onto base frames. ``mouths`` is the template's ``MouthCache``, ``raw`` its
    unsmoothed landmarks (N, 478, 2), ``valid`` (N,) bool."""

    def __init__(self, width: int, height: int, device: str, mouths, raw: np.ndarray, valid: np.ndarray):
        # ``device`` is unused here: a paste is a few hundred pixels square and its frame lives in host memory,
        # so numpy/OpenCV on one core beat torch on any device. On CPU, torch's thread pool spun against the
        # decoder's and encoder's threads (bench/render_profile.py: 2.4 ms a 1080p frame on one thread, 4-15 ms
        # on two beside other work; 1.5 ms now).
        self.device = device
        self.compositor = Compositor(width, height, device)
        self.mouths, self.raw, self.valid = mouths, raw, valid
        self.midline, self.midline_mean = lip_midlines(raw, valid)

    def apply(self, frame: np.ndarray, base_lm: np.ndarray, target: float, sources: list[tuple[int, float]],
              base: int | None = None) -> bool:
        """Paste onto I420 ``frame`` (in place) the blend of ``sources`` [(template frame, weight), ...],
        reshaped so its inner-lip gap is ``target`` (interocular distances). ``base``: the template frame
        ``frame`` shows, whose upper lip the sources are moved across onto (None: not moved across). False when
        the main source does not line up with the base frame (the frame keeps its own mouth)."""
        fits = []
        for s, w in sources:
            m = self.compositor.align(base_lm, self.raw[s]) if self.valid[s] else None
            if m is not None:
                fits.append((s, w, m))
            elif not fits:
                return False  # the main source does not fit: a faded-out one alone would show the old run
        outline = np.concatenate([lower_face_outline(base_lm)] +
                                 [apply(m, lower_face_outline(self.raw[s])) for s, _, m in fits])
        box, mask = self.compositor.region(base_lm, outline, inside_face=True)
        total = sum(w for _, w, _ in fits)
        patch = None
        d = interocular(base_lm)
        for s, w, m in fits:
            src, origin = self.mouths.get(s)
            across = 0.0 if base is None else float(np.nan_to_num(self.midline[base] - self.midline_mean[s])) * d
            moved = self.reshape(self.compositor.source_patch(src, origin, m, box), box, base_lm,
                                 apply(m, self.raw[s]), target, across)
            patch = moved * (w / total) if patch is None else patch + moved * (w / total)
        self.compositor.paste(frame, base_lm, np.clip(patch.round(), 0, 255).astype(np.uint8), box, mask,
                              spare_sides=True)
        return True

    def reshape(self, patch: np.ndarray, box, base_lm: np.ndarray, src_lm: np.ndarray, target: float,
                across: float = 0.0) -> np.ndarray:
        """``patch`` (h, w, 3 uint8, aligned to ``box``) with its lips moved: the upper lip onto the base frame's
        upper lip (down or up, and ``across`` pixels sideways), the lower lip and jaw so the inner gap is
        ``target`` interocular distances. ``src_lm`` are the source's landmarks already mapped into the base
        frame. Returns float32 (h, w, 3)."""
        import cv2

        x0, y0, w, h = box
        d = max(interocular(base_lm), 1.0)
        b = base_lm - [x0, y0]
        s = src_lm - [x0, y0]
        shift = float(np.clip(b[0, 1] - s[0, 1], -MAX_LIP_SHIFT * d, MAX_LIP_SHIFT * d))
        # Across as well (lip_midlines): measured on the shared portrait clip, the upper lip's worst frames were
        # 0.05-0.07 interocular distances off, nearly all of it sideways.
        across = float(np.clip(across, -MAX_LIP_SHIFT * d, MAX_LIP_SHIFT * d))
        gap = _aperture_px(s)
        delta = float(np.clip(target * d - gap, -gap, MAX_OPEN * d))
        out = patch.astype(np.float32)
        if abs(shift) < 0.3 and abs(delta) < 0.3 and abs(across) < 0.3:
            return out
        mx = float(b[list(MOUTH_CORNERS), 0].mean())
        half = max(float(np.linalg.norm(b[MOUTH_CORNERS[0]] - b[MOUTH_CORNERS[1]])) / 2, 1.0)
        geo = dict(mx=mx, half=half, d=d, nose=float(b[2, 1]), upper=float(b[0, 1]), inner_u=float(s[13, 1]) + shift,
                   inner_l=float(s[14, 1]) + shift + delta, chin=float(s[152, 1]) + shift + delta)
        # The field moves the lips' sides less than their middle, so the mean inner-lip gap (what the target is)
        # would open or close by less than asked: measured, reshaped frames fell 0.02 short of their targets
        # both ways. The middle is moved as much more as the gap needs.
        amplitude = delta / _gap_gain(s + [across, 0.0], geo, shift, delta)
        amplitude = max(amplitude, -max(float(s[14, 1] - s[13, 1]), 0.0))  # the lower lip never crosses the upper
        ys = np.arange(h, dtype=np.float32)[:, None]
        xs = np.arange(w, dtype=np.float32)[None, :]
        clip = lambda v: np.clip(v, 0, 1)  # noqa: E731
        # Only rows the field reaches move (the lower face, not the nose above it nor the neck), and the field
        # and the resampling are worked out over those alone. Both of its terms are >= 0 at the mouth's centre
        # with unit weights, so their sum there is non-zero exactly on those rows.
        rows = np.flatnonzero(_displacement(ys, np.float32(mx), geo, 1.0, 1.0, clip, np.exp)[:, 0])
        if not len(rows):
            return out
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        ys = ys[r0:r1]
        dy = _displacement(ys, xs, geo, shift, amplitude, clip, np.exp).astype(np.float32, copy=False)
        # The sideways move is the upper lip's vertical shift field with ``across`` in place of ``shift``: the
        # whole mouth moves, fading out above the upper lip, below the chin and towards the cheeks.
        dx = _displacement(ys, xs, geo, across, 0.0, clip, np.exp).astype(np.float32, copy=False)
        # Each pixel samples the patch at (x - dx, y - dy): bilinear, the border repeated (as torch's
        # grid_sample with align_corners and border padding did).
        out[r0:r1] = cv2.remap(out, xs - dx, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        opened = delta - 0.5 * max(gap, 0.0)
        if opened > 1.0:
            # A gap opened beyond the source's own: shade it like the inside of a mouth, more the less of it the
            # source showed.
            # The moved inner-lip outline, in FaceMesh's order (upper lip left to right, then the lower lip back).
            lip = s[list(INNER_LIPS)].astype(np.float32) + [across, shift]
            lip[11:, 1] += amplitude * np.clip(1 - ((lip[11:, 0] - mx) / half) ** 2, 0, 1)
            shade = np.zeros((h, w), dtype=np.uint8)
            cv2.fillPoly(shade, [np.round(lip).astype(np.int32)], 255)
            shade = cv2.GaussianBlur(shade.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.02 * d))
            _blend_towards(out, np.array([45.0, 20.0, 22.0], np.float32), shade,
                           min(0.8, opened / max(0.08 * d, 1.0)))
        if gap > 1.0 and target * d < 0.5 * gap:
            out = self._seal(out, s + [across, 0.0], shift, amplitude, mx, half, d,
                             closing=min(1.0, (gap - target * d) / gap))
        return out

    def _seal(self, out, s, shift, delta, mx, half, d, closing):
        """Lips squeezed together still show the source's dark gap as a line, which reads as a mouth left ajar:
        cover what is left of the gap with the lips' own colour (sampled from the moved lower lip) and keep
        only a faint seam. ``out`` float32 (h, w, 3), changed in place and returned."""
        import cv2

        h, w = out.shape[:2]
        lip = s[list(INNER_LIPS)].astype(np.float32) + [0.0, shift]
        lip[11:, 1] += delta * np.clip(1 - ((lip[11:, 0] - mx) / half) ** 2, 0, 1)
        gap = np.zeros((h, w), dtype=np.uint8)
        cv2.fillPoly(gap, [np.round(lip).astype(np.int32)], 255)
        k = max(3, int(0.04 * d) | 1)
        gap = cv2.dilate(gap, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        band = np.zeros((h, w), dtype=np.uint8)  # the lower lip: under the gap, down to the outer lip
        lower = np.concatenate([lip[11:], (s[[17, 84, 314]] + [0.0, shift + delta]).astype(np.float32)])
        cv2.fillConvexPoly(band, cv2.convexHull(np.round(lower).astype(np.int32)), 255)
        band &= ~gap
        inside = out[band > 0]
        if len(inside) < 10:
            return out
        # The lower of the two middle values for an even count (torch's median, which this replaced).
        colour = np.partition(inside, (len(inside) - 1) // 2, axis=0)[(len(inside) - 1) // 2]
        soft = cv2.GaussianBlur(gap.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.015 * d))
        _blend_towards(out, colour, soft, 0.85 * closing)
        seam = np.zeros((h, w), dtype=np.float32)
        cv2.polylines(seam, [np.round(lip[:11]).astype(np.int32)], False, 1.0, max(1, int(0.01 * d)))
        seam = cv2.GaussianBlur(seam, (0, 0), max(0.8, 0.006 * d))
        _blend_towards(out, np.zeros(3, np.float32), seam, 0.25 * closing)
        return out


def _blend_towards(out: np.ndarray, colour: np.ndarray, weight: np.ndarray, strength: float) -> None:
    """``out = out * (1 - a) + colour * a`` in place with ``a = weight * strength``; ``out`` float32 (h, w, 3),
    ``colour`` (3,), ``weight`` float32 (h, w) in [0, 1]. Worked out only over the rows and columns where
    ``weight`` is non-zero (a blurred polygon a fraction of the box), which leaves the rest exactly as it was."""
    rows, cols = np.flatnonzero(weight.any(1)), np.flatnonzero(weight.any(0))
    if not len(rows):
        return
    ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    a = weight[ys, xs, None] * np.float32(strength)
    view = out[ys, xs]
    view *= 1 - a
    view += np.asarray(colour, np.float32) * a
