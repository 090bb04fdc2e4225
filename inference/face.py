"""Face tracking with mediapipe: full-range detection, FaceMesh on a padded crop, One Euro smoothing.

Landmarks are ``np.ndarray`` float32 of shape ``(478, 2)``: x, y in pixels of the displayed frame (refined
FaceMesh topology, so iris points 468-477 are present). A lost frame is ``None``.

Why a crop: FaceMesh's own detector is short-range (faces filling much of the picture); in a 1080x1920
full-body shot the face is ~250 px wide and goes unseen. The full-range detector finds it on a downscaled frame,
and the mesh then runs on a square crop around it with the face at about half the crop's width.
"""
from __future__ import annotations

import math

import numpy as np

from .media import split_planes

# Inner-lip pairs (upper, lower) and outer eye corners used for the aperture measure of engine-findings.md.
INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))
EYE_CORNERS = (33, 263)
MOUTH_CORNERS = (61, 291)
# Points that do not move when the jaw opens: eye corners, nose bridge and tip, temples. Used for alignment.
# Points near the pasted region that move little when the jaw opens (nose, inner eye corners, upper cheeks):
# aligning on them keeps the seam area in register even when the head turns a little between frames.
STABLE_POINTS = (1, 4, 5, 195, 197, 133, 362, 50, 280, 123, 352, 36, 266, 205, 425, 98, 327, 2)
# Lower half of the face outline, cheek to cheek through the chin, and the line under the nose.
# The outermost points (near the ears) are left out: the face's side edge and what hangs beside it (hair,
# earrings) move with head turns and would ghost if pasted from another frame.
JAW_ARC = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)
# The face's outline (FaceMesh's face oval), clockwise from the forehead: pastes stay inside it.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
CHIN = (176, 148, 152, 377, 400)  # the bottom of the oval, where an opening jaw may reach below the base's chin
# Between the nostrils and the upper lip: the top edge of the paste stays clear of the nose, whose outline
# moves with head turns and would otherwise show twice.
UNDER_NOSE = (206, 165, 164, 391, 426)
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)

MESH_INPUT = 256  # crops are resized to at most this size before FaceMesh; its model runs at 192 anyway


def interocular(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[EYE_CORNERS[0]] - lm[EYE_CORNERS[1]]))


def mouth_shape(lm: np.ndarray) -> tuple[float, float]:
    """(aperture, width): inner-lip gap and mouth-corner distance, both divided by the interocular distance."""
    d = max(interocular(lm), 1e-6)
    gap = np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in INNER_LIP_PAIRS])
    width = np.linalg.norm(lm[MOUTH_CORNERS[0]] - lm[MOUTH_CORNERS[1]])
    return float(gap / d), float(width / d)


def head_pose(lm: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) proxies: the nose tip's offset from the eyes' midpoint along and across the eye line,
    divided by the interocular distance. Frames with similar values show the head turned alike."""
    left, right = lm[EYE_CORNERS[0]], lm[EYE_CORNERS[1]]
    axis = right - left
    d = max(float(np.linalg.norm(axis)), 1e-6)
    ex = axis / d
    ey = np.array([-ex[1], ex[0]])
    rel = lm[4] - (left + right) / 2
    return float(rel @ ex / d), float(rel @ ey / d)


def smile(lm: np.ndarray) -> float:
    """How far the mouth corners sit above the middle of the lips, along the face's vertical axis, in
    interocular distances: about 0 for a neutral mouth, positive for a smile."""
    left, right = lm[EYE_CORNERS[0]], lm[EYE_CORNERS[1]]
    axis = right - left
    d = max(float(np.linalg.norm(axis)), 1e-6)
    down = np.array([-axis[1], axis[0]]) / d
    middle = (lm[13] + lm[14]) / 2
    corners = (lm[MOUTH_CORNERS[0]] + lm[MOUTH_CORNERS[1]]) / 2
    return float((middle - corners) @ down / d)


class OneEuro:
    """One Euro filter (Casiez et al. 2012) over a whole landmark array; cutoffs in Hz at ``rate`` samples/s.

    Works on coordinates divided by ``scale`` (the interocular distance) so its speed term is the same for a
    small and a large face.
    """

    def __init__(self, rate: float, min_cutoff: float = 2.0, beta: float = 0.7, d_cutoff: float = 1.0):
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self.x = None
        self.dx = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def reset(self):
        self.x = self.dx = None

    def __call__(self, x: np.ndarray, scale: float) -> np.ndarray:
        x = x / scale
        if self.x is None:
            self.x, self.dx = x, np.zeros_like(x)
            return x * scale
        dx = (x - self.x) * self.rate
        a_d = self._alpha(self.d_cutoff)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = 1.0 / (1.0 + self.rate / (2 * math.pi * cutoff))
        self.x = a * x + (1 - a) * self.x
        return self.x * scale


def crop_rgb(yuv: np.ndarray, width: int, height: int, box) -> np.ndarray:
    """RGB uint8 ``(h, w, 3)`` of ``box = (x0, y0, w, h)`` (multiples of 4, inside the frame) of an I420 frame."""
    import cv2

    x0, y0, w, h = box
    y, u, v = split_planes(yuv, width, height)
    i420 = np.concatenate(
        [
            y[y0 : y0 + h, x0 : x0 + w].reshape(-1),
            u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2].reshape(-1),
            v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2].reshape(-1),
        ]
    ).reshape(h * 3 // 2, w)
    return cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)


def clamp_box(cx: float, cy: float, size: float, width: int, height: int):
    """A square-ish box around (cx, cy), clipped to the frame, with corners and sides on multiples of 4."""
    size = int(min(size, width, height)) // 4 * 4
    x0 = int(min(max(cx - size / 2, 0), width - size)) // 4 * 4
    y0 = int(min(max(cy - size / 2, 0), height - size)) // 4 * 4
    return x0, y0, max(size, 4), max(size, 4)


class FaceTracker:
    """Follows one face (the main one) through a video. Call ``track`` once per frame, in order."""

    def __init__(self, fps: float, detect_every_lost: int = 5):
        import mediapipe as mp

        self._mp = mp
        self.detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        self.mesh = None
        self.box = None  # current crop (x0, y0, w, h)
        self.center = None  # last known face centre, to stay on the same person when several are visible
        self.face_size = None
        self.filter = OneEuro(rate=fps)
        self.lost_run = 0
        self.detect_every_lost = detect_every_lost

    def close(self):
        if self.mesh is not None:
            self.mesh.close()
        self.detector.close()

    def _new_mesh(self):
        # A FaceMesh in video mode tracks inside one fixed crop; a moved crop invalidates its state.
        if self.mesh is not None:
            self.mesh.close()
        self.mesh = self._mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, refine_landmarks=True, max_num_faces=1, min_detection_confidence=0.5
        )

    def _detect(self, yuv, width, height):
        """Find the main face on a downscaled frame and set a crop around it; False when none is seen."""
        import cv2

        scale = min(1.0, 640.0 / max(width, height))
        rgb = crop_rgb(yuv, width, height, (0, 0, width // 4 * 4, height // 4 * 4))
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        result = self.detector.process(small)
        if not result.detections:
            return False
        sh, sw = small.shape[:2]
        candidates = []
        for det in result.detections:
            b = det.location_data.relative_bounding_box
            cx, cy = (b.xmin + b.width / 2) * sw / scale, (b.ymin + b.height / 2) * sh / scale
            size = max(b.width * sw, b.height * sh) / scale
            score = size * size * det.score[0]
            if self.center is not None:
                # Stay with the person we followed: a face near the last position wins over a bigger one.
                dist = math.hypot(cx - self.center[0], cy - self.center[1])
                if dist < 0.6 * (self.face_size or size):
                    score *= 100.0
            candidates.append((score, cx, cy, size))
        _, cx, cy, size = max(candidates)
        self._set_box(cx, cy, size, width, height)
        return True

    def _set_box(self, cx, cy, size, width, height):
        self.box = clamp_box(cx, cy, size * 2.2, width, height)
        self.face_size = size
        self._new_mesh()

    def _mesh(self, yuv, width, height):
        import cv2

        x0, y0, w, h = self.box
        rgb = crop_rgb(yuv, width, height, self.box)
        s = min(1.0, MESH_INPUT / max(w, h))
        if s < 1:
            # pyrDown halvings then a bilinear step: as clean as INTER_AREA here at a tenth of its cost.
            tw, th = int(w * s), int(h * s)
            while rgb.shape[1] >= 2 * tw and rgb.shape[0] >= 2 * th:
                rgb = cv2.pyrDown(rgb)
            rgb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_LINEAR)
        result = self.mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        pts = result.multi_face_landmarks[0].landmark
        lm = np.array([(p.x, p.y) for p in pts], dtype=np.float32)
        lm[:, 0] = lm[:, 0] * w + x0
        lm[:, 1] = lm[:, 1] * h + y0
        return lm

    def track(self, yuv: np.ndarray, width: int, height: int):
        """Landmarks of the main face in this frame: ``(raw, smoothed)`` float32 ``(478, 2)`` or ``None``."""
        if self.box is None:
            if self.lost_run % self.detect_every_lost != 0 or not self._detect(yuv, width, height):
                self.lost_run += 1
                return None
        lm = self._mesh(yuv, width, height)
        if lm is None:
            # Lost inside the crop: look at the whole frame again (the person may have moved or turned).
            self.box = None
            self.filter.reset()
            if not self._detect(yuv, width, height) or (lm := self._mesh(yuv, width, height)) is None:
                self.box = None
                self.lost_run = 1
                return None
        self.lost_run = 0
        d = max(interocular(lm), 1.0)
        cx, cy = lm[:, 0].mean(), lm[:, 1].mean()
        size = float(max(np.ptp(lm[:, 0]), np.ptp(lm[:, 1])))
        self.center = (cx, cy)
        x0, y0, w, h = self.box
        # Re-centre the crop when the face drifts toward its edge or changes size a lot.
        if abs(cx - (x0 + w / 2)) > 0.2 * w or abs(cy - (y0 + h / 2)) > 0.2 * h or not (
            0.75 < size / max(self.face_size, 1.0) < 1.33
        ):
            self._set_box(cx, cy, size, width, height)
        smooth = self.filter(lm, d).astype(np.float32)
        return lm, smooth
