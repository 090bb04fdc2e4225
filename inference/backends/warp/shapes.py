"""The ``warp`` backend: audio loudness and spectral shape open, widen and round the template's own mouth.

For templates without usable speech of their own (a silent recording, music). Each output frame's base mouth is
moved toward a target (aperture, width) by a smooth displacement field over the lower face (lower lip and jaw
move down, the upper lip a little up, corners in or out), and a mouth opened further than in the base frame is
shaded dark inside the moved inner-lip outline. The field is computed in torch and sampled with grid_sample.
"""
from __future__ import annotations

import numpy as np

from ...composite import Compositor, lower_face_outline
from ...face import INNER_LIPS, MOUTH_CORNERS, crop_rgb, interocular, mouth_shape


def audio_targets(loud: np.ndarray, centroid: np.ndarray, vad: np.ndarray, closed: float, open_: float,
                  width_median: float, width_spread: float) -> np.ndarray:
    """Target (aperture, width) per frame, float32 ``(T, 2)``, from loudness (dBFS), spectral centroid (Hz)
    and speech probability; apertures in the person's own closed..open range."""
    speech = vad >= 0.5
    ref = loud[speech] if speech.sum() >= 5 else loud
    lo, hi = np.percentile(ref, 10), np.percentile(ref, 95)
    opening = np.clip((loud - lo) / max(hi - lo, 1e-3), 0, 1) ** 0.8
    opening = np.where(speech, opening, 0.0)
    # Low spectral centroid during speech goes with rounded vowels (o, u): a narrower mouth.
    cref = centroid[speech] if speech.sum() >= 5 else centroid
    cz = (centroid - np.median(cref)) / (np.std(cref) + 1e-6)
    width = width_median + np.clip(cz, -1.5, 1.5) * 0.6 * width_spread * opening
    kernel = np.array([0.2, 0.6, 0.2])
    if len(opening) >= 3:
        opening = np.convolve(np.pad(opening, 1, mode="edge"), kernel, mode="valid")
    return np.stack([closed + opening * (open_ - closed), width], 1).astype(np.float32)


class MouthWarper:
    def __init__(self, width: int, height: int, device: str = "cpu"):
        import torch

        self.torch = torch
        self.device = device
        self.compositor = Compositor(width, height, device)
        self.width, self.height = width, height

    def apply(self, frame: np.ndarray, lm: np.ndarray, raw_lm: np.ndarray, target) -> None:
        """Move the mouth of I420 ``frame`` (in place) toward ``target`` = (aperture, width) / interocular.

        ``lm`` are the smoothed landmarks used for geometry, ``raw_lm`` the unsmoothed ones giving the base
        mouth's current shape."""
        import cv2

        torch = self.torch
        d = interocular(lm)
        base_ap, base_w = mouth_shape(raw_lm)
        # Closing is limited to half the base gap: squeezing a wide-open mouth shut smears the lips.
        delta = float(np.clip((target[0] - base_ap) * d, -0.5 * base_ap * d, 0.45 * d))
        scale = float(np.clip(target[1] / max(base_w, 1e-3), 0.85, 1.15))
        if abs(delta) < 0.5 and abs(scale - 1) < 0.01:
            return
        box, mask = self.compositor.region(lm, lower_face_outline(lm))
        x0, y0, w, h = box
        rgb = crop_rgb(frame, self.width, self.height, box)
        upper = lm[13] - [x0, y0]
        lower = lm[14] - [x0, y0]
        mx = float(lm[list(MOUTH_CORNERS)][:, 0].mean() - x0)
        chin = float(lm[152, 1] - y0)
        ys = torch.arange(h, device=self.device, dtype=torch.float32)[:, None]
        xs = torch.arange(w, device=self.device, dtype=torch.float32)[None, :]
        # Vertical move of the output pixel at y: 0 above the upper inner lip, ramping to the full jaw drop at
        # the (moved) lower inner lip, full down to the chin, fading out over the neck.
        yu, yl = float(upper[1]), float(lower[1]) + max(delta, 0.0)
        ramp = ((ys - yu) / max(yl - yu, 1.0)).clamp(0, 1)
        fade = (1 - (ys - chin - delta) / (0.35 * d)).clamp(0, 1)
        # Horizontal profile: at lip height a lens (corners stay put, the middle opens most); lower down the
        # whole jaw moves, so the profile widens toward the chin.
        half = max(float(np.linalg.norm(lm[MOUTH_CORNERS[0]] - lm[MOUTH_CORNERS[1]])) / 2, 1.0)
        lens = (1 - ((xs - mx) / half) ** 2).clamp(0, 1)
        broad = torch.exp(-0.5 * ((xs - mx) / (0.6 * d)) ** 2)
        mix = ((ys - yl) / max(chin - yl, 1.0)).clamp(0, 1)
        dy = delta * ramp * fade * (lens + (broad - lens) * mix)
        # Widening or narrowing around the mouth centre, strongest at lip height.
        lip_w = torch.exp(-0.5 * ((ys - (yu + yl) / 2) / (0.25 * d)) ** 2)
        dx = (scale - 1) * (xs - mx) * lip_w * torch.exp(-0.5 * ((xs - mx) / (0.5 * d)) ** 2)
        src_x = (xs - dx / scale).expand(h, w)
        src_y = ys - dy
        grid = torch.stack([src_x / (w - 1) * 2 - 1, src_y / (h - 1) * 2 - 1], -1)[None]
        img = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1)[None].float()
        out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
        out = out[0].permute(1, 2, 0)
        if delta > 1.0:
            # Inside the opened mouth: darken between the upper inner lip and the moved lower inner lip. The
            # outline keeps FaceMesh's order (upper lip left to right, then lower lip back), so it never twists.
            moved = (lm[list(INNER_LIPS)] - [x0, y0]).astype(np.float32)
            lower_part = moved[11:]
            lower_part[:, 1] += delta * np.clip(1 - ((lower_part[:, 0] - mx) / half) ** 2, 0, 1)
            moved[:, 0] = mx + (moved[:, 0] - mx) * scale
            shade = np.zeros((h, w), dtype=np.uint8)
            cv2.fillPoly(shade, [np.round(moved).astype(np.int32)], 255)
            shade = cv2.GaussianBlur(shade.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.015 * d))
            alpha = torch.from_numpy(shade).to(self.device)[..., None] * min(1.0, delta / (0.06 * d)) * 0.85
            dark = torch.tensor([40.0, 18.0, 20.0], device=self.device)
            out = out * (1 - alpha) + dark * alpha
        patch = out.round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        self.compositor.paste(frame, lm, patch, box, mask)
