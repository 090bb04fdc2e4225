"""Pasting a lower face from one frame onto another: landmark alignment, colour matching, feathered blending.

Frames are I420 arrays (see ``media``); only a box around the lower face is converted to RGB, changed, and
written back, and only where the blend mask is non-zero, so the rest of the picture stays bit-exact.
Blending and colour matching run in numpy/OpenCV on the host, whatever the device: the box is a few hundred
pixels square and the frame is in host memory, so a trip to a GPU (or torch's CPU thread pool, which spun against
the decoder's and encoder's threads) costs more than the arithmetic.
"""
from __future__ import annotations

import numpy as np

from .face import (CHIN, EYE_CORNERS, FACE_OVAL, JAW_ARC, MOUTH_CORNERS, STABLE_POINTS, UNDER_NOSE, crop_rgb,
                   interocular)
from .media import split_planes


MAX_ALIGN_RESIDUAL = 0.03  # rms misfit of the stable landmarks after alignment, in interocular distances
# Retrieval pastes come from other frames: beside the mouth (beyond SIDE_FROM mouth half-widths from its centre,
# fading in over SIDE_RAMP more) the paste is kept only where it looks like the base (mean RGB difference well
# under SIDE_TOLERANCE), so hair or a jaw edge that sat elsewhere in the source frame is not pasted in.
SIDE_FROM, SIDE_RAMP, SIDE_TOLERANCE = 1.3, 0.6, 25.0


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` (K, 2) onto ``dst`` (K, 2).

    Returns a float64 ``(2, 3)`` matrix for ``cv2.warpAffine``. Umeyama's closed form, no reflection.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / max((s**2).sum() / len(src), 1e-9)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map (2, 3) taking ``src`` (K, 2) onto ``dst`` (K, 2); falls back to a similarity
    when the fit shears or scales implausibly (a bad landmark set)."""
    ones = np.ones((len(src), 1))
    sol, *_ = np.linalg.lstsq(np.hstack([src, ones]), dst, rcond=None)
    m = sol.T
    sv = np.linalg.svd(m[:, :2], compute_uv=False)
    if sv[1] <= 0 or sv[0] / sv[1] > 1.3:
        return similarity(src, dst)
    return m


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def lower_face_outline(lm: np.ndarray) -> np.ndarray:
    """Polygon points (K, 2) of the region we replace: under the nose, cheek to cheek, and a little below the
    chin (an opened jaw of the source must not leave the base's chin showing under it)."""
    d = interocular(lm)
    jaw = lm[list(JAW_ARC)]
    chin_drop = jaw + np.array([0.0, 0.12 * d], dtype=np.float32)
    return np.concatenate([lm[list(UNDER_NOSE)], jaw, chin_drop]).astype(np.float32)


def _box(points: np.ndarray, margin: float, width: int, height: int):
    x0 = int(max(points[:, 0].min() - margin, 0)) // 4 * 4
    y0 = int(max(points[:, 1].min() - margin, 0)) // 4 * 4
    x1 = min(int(np.ceil(points[:, 0].max() + margin)) + 3, width) // 4 * 4
    y1 = min(int(np.ceil(points[:, 1].max() + margin)) + 3, height) // 4 * 4
    return x0, y0, max(x1 - x0, 4), max(y1 - y0, 4)


class Compositor:
    """Builds and applies lower-face pastes. ``device`` (a torch device name) is accepted for the callers' sake;
    the arithmetic runs on the host (see the module's docstring)."""

    def __init__(self, width: int, height: int, device: str = "cpu"):
        self.width, self.height = width, height
        self.device = device

    def region(self, base_lm: np.ndarray, outline_pts: np.ndarray, inside_face: bool = False):
        """The box (x0, y0, w, h) and float32 mask (h, w) in [0, 1] covering ``outline_pts`` with feathering.
        ``inside_face``: also keep the mask (feather included) inside the base frame's face oval, except below
        the chin: a paste from another frame must never cover the background or hair beside the jaw."""
        import cv2

        d = interocular(base_lm)
        feather = max(2.0, 0.07 * d)
        box = _box(outline_pts, 3.5 * feather, self.width, self.height)
        x0, y0, w, h = box
        # The mask is smooth, so it is drawn and blurred at a quarter of the size and scaled up: a large face's
        # feather blur at full size cost more than the rest of the paste together.
        s = 4 if min(w, h) >= 64 else 1
        small = np.zeros((h // s, w // s), dtype=np.uint8)
        hull = cv2.convexHull(((outline_pts - [x0, y0]) / s).astype(np.int32))
        cv2.fillConvexPoly(small, hull, 255)
        if inside_face:
            small = np.minimum(small, self._face_oval(base_lm, x0, y0, s, small.shape))
        # Shrink then blur so the feather lies inside the outline: the edge is where the two faces agree most.
        k = max(int(feather / s), 1) | 1
        small = cv2.erode(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        small = cv2.GaussianBlur(small.astype(np.float32) / 255.0, (0, 0), max(feather / s, 0.5))
        mask = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if s > 1 else small
        return box, mask

    @staticmethod
    def _face_oval(lm: np.ndarray, x0: int, y0: int, s: int, shape) -> np.ndarray:
        import cv2

        oval = lm[list(FACE_OVAL)].astype(np.float32).copy()
        chin = [FACE_OVAL.index(k) for k in CHIN]
        oval[chin, 1] += 0.12 * interocular(lm)  # the lower_face_outline's chin drop
        out = np.zeros(shape, dtype=np.uint8)
        cv2.fillPoly(out, [np.round((oval - [x0, y0]) / s).astype(np.int32)], 255)
        return out

    def paste(self, base: np.ndarray, base_lm: np.ndarray, patch_rgb: np.ndarray, box, mask: np.ndarray,
              spare_sides: bool = False):
        """Blend ``patch_rgb`` (h, w, 3 uint8, already aligned to ``box``) into I420 ``base`` in place.

        Colour is matched with a per-channel offset measured on the feather ring, where both images show skin
        that should agree; the mouth interior, which legitimately differs, is not measured. ``spare_sides``
        (pastes from another frame): see ``_side_guard``.
        """
        import cv2

        x0, y0, w, h = box
        base_rgb = crop_rgb(base, self.width, self.height, box)
        # The ring: strictly between 0.05 and 0.7 (inRange's bounds are inclusive).
        ring = cv2.inRange(mask, float(np.nextafter(np.float32(0.05), np.float32(1))),
                           float(np.nextafter(np.float32(0.7), np.float32(0))))
        offset = (0.0, 0.0, 0.0)
        if cv2.countNonZero(ring) > 20:
            mean_b, mean_p = cv2.mean(base_rgb, ring), cv2.mean(patch_rgb, ring)
            offset = tuple(float(np.clip(mb - mp, -40, 40)) for mb, mp in zip(mean_b[:3], mean_p[:3]))
        p = cv2.add(patch_rgb, offset + (0.0,), dtype=cv2.CV_32F)
        b = base_rgb.astype(np.float32)
        if spare_sides:
            mask = mask * self._side_guard(b, p, base_lm, box)
        # p * m + b * (1 - m), rounded half to even and saturated to uint8 by OpenCV's conversion.
        p -= b
        p *= mask[..., None]
        out = cv2.add(p, b, dtype=cv2.CV_8U)
        i420 = cv2.cvtColor(out, cv2.COLOR_RGB2YUV_I420)
        y, u, v = split_planes(base, self.width, self.height)
        ny = i420[:h].reshape(h, w)
        rest = i420[h:].reshape(-1)
        nu = rest[: h * w // 4].reshape(h // 2, w // 2)
        nv = rest[h * w // 4 :].reshape(h // 2, w // 2)
        # Write only where the mask reaches, so pixels outside the pasted area stay exactly as decoded.
        keep = mask > 1.0 / 255
        keep_c = keep[::2, ::2] | keep[1::2, 1::2]
        ys = y[y0 : y0 + h, x0 : x0 + w]
        ys[keep] = ny[keep]
        us = u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
        vs = v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
        us[keep_c] = nu[keep_c]
        vs[keep_c] = nv[keep_c]

    def _side_guard(self, b: np.ndarray, p: np.ndarray, base_lm: np.ndarray, box) -> np.ndarray:
        """(h, w) float32 weights in [0, 1] for a paste from another frame: 1 across the mouth and chin; towards the
        cheeks and jaw corners, high only where the colour-matched paste looks like the base. A head turned or
        tilted otherwise in the source frame brings hair or its jaw edge to places where the base shows skin,
        and a feathered blend would leave them as a dark smear. ``b``, ``p``: float32 (h, w, 3) base and paste."""
        import cv2

        x0, y0, w, h = box
        left, right = base_lm[MOUTH_CORNERS[0]].astype(np.float64), base_lm[MOUTH_CORNERS[1]].astype(np.float64)
        centre = (left + right) / 2
        axis = (base_lm[EYE_CORNERS[1]] - base_lm[EYE_CORNERS[0]]).astype(np.float64)
        axis /= max(np.linalg.norm(axis), 1e-6)
        half = max(np.linalg.norm(right - left) / 2, 1.0)
        xs = np.arange(w, dtype=np.float32) + np.float32(x0 - centre[0])
        ys = np.arange(h, dtype=np.float32) + np.float32(y0 - centre[1])
        lateral = np.abs(xs[None, :] * np.float32(axis[0]) + ys[:, None] * np.float32(axis[1])) / np.float32(half)
        core = np.clip((np.float32(SIDE_FROM + SIDE_RAMP) - lateral) / np.float32(SIDE_RAMP), 0, 1)
        # The difference, smoothed so single pixels do not punch holes, is worked out at a quarter of the size
        # (full size cost 4 ms a frame at 1080p) and scaled back up; the smoothing averages only the cells
        # inside the box.
        diff = _quarter_mean(cv2.absdiff(p, b)).mean(2, dtype=np.float32)
        k = max(int(half / 16), 1) * 2 + 1
        total = cv2.boxFilter(diff, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
        cells = cv2.boxFilter(np.ones_like(diff), -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
        agree = cv2.resize(np.exp(-((total / cells / np.float32(SIDE_TOLERANCE)) ** 2)), (w, h),
                           interpolation=cv2.INTER_LINEAR)
        return core + (1 - core) * agree

    def align(self, base_lm: np.ndarray, src_lm: np.ndarray):
        """The affine map (2, 3) taking the source frame's face onto the base frame's, fitted on the stable
        landmarks, or None when no such map lines the two faces up (a head turned or blurred otherwise: any
        paste would ghost, so the caller keeps the base frame's own mouth). Both are (478, 2) float32 landmarks
        of their own frames, unsmoothed: smoothed ones lag a moving head by up to 0.2 interocular distances."""
        stable = list(STABLE_POINTS)
        src_pts, dst_pts = src_lm[stable].astype(np.float64), base_lm[stable].astype(np.float64)
        m = affine(src_pts, dst_pts)
        residual = np.sqrt(((apply(m, src_pts) - dst_pts) ** 2).sum(1).mean()) / max(interocular(base_lm), 1.0)
        return None if residual > MAX_ALIGN_RESIDUAL else m

    def source_patch(self, src_rgb: np.ndarray, src_origin, m: np.ndarray, box) -> np.ndarray:
        """The source crop (h, w, 3 uint8 whose top-left corner sat at ``src_origin`` in its frame) warped by
        ``m`` onto the base frame's ``box``."""
        import cv2

        x0, y0, w, h = box
        local = m.copy()
        local[:, 2] += local[:, :2] @ np.asarray(src_origin, dtype=np.float64) - np.array([x0, y0])
        return cv2.warpAffine(src_rgb, local, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def transfer(self, base: np.ndarray, base_lm: np.ndarray, src_rgb: np.ndarray, src_origin, src_lm) -> bool:
        """Replace the lower face of I420 ``base`` (in place) with the one in ``src_rgb``, a crop (h, w, 3 uint8)
        of another frame whose top-left corner sat at ``src_origin`` (see ``mouth_crop_box``), aligned on the
        stable landmarks. False (and nothing changed) when the faces do not line up."""
        m = self.align(base_lm, src_lm)
        if m is None:
            return False
        outline = np.concatenate([lower_face_outline(base_lm), apply(m, lower_face_outline(src_lm))])
        box, mask = self.region(base_lm, outline, inside_face=True)
        self.paste(base, base_lm, self.source_patch(src_rgb, src_origin, m, box), box, mask, spare_sides=True)
        return True


def _quarter_mean(a: np.ndarray) -> np.ndarray:
    """Means of the 4x4 cells of float32 ``a`` (h, w, c), the last row and column of cells cut short by the edge
    when h or w is not a multiple of 4 (torch's ``avg_pool2d(.., 4, ceil_mode=True)``)."""
    import cv2

    h, w = a.shape[:2]
    if h % 4 == 0 and w % 4 == 0:  # every box ``_box`` makes; area resizing by a whole factor is the cell mean
        return cv2.resize(a, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    hp, wp = -(-h // 4) * 4, -(-w // 4) * 4
    sums = np.zeros((hp, wp) + a.shape[2:], np.float32)
    sums[:h, :w] = a
    counts = np.zeros((hp, wp) + (1,) * (a.ndim - 2), np.float32)
    counts[:h, :w] = 1
    cell = lambda x: x.reshape(hp // 4, 4, wp // 4, 4, *x.shape[2:]).sum((1, 3))  # noqa: E731
    return cell(sums) / cell(counts)


def mouth_crop_box(lm: np.ndarray, width: int, height: int):
    """The box (x0, y0, w, h) kept of a template frame for later pastes: the lower face with room for the
    feather and for the head's motion between frames."""
    return _box(lower_face_outline(lm), 0.6 * interocular(lm), width, height)
