"""Running MuseTalk on engine frames: the official face box from FaceMesh landmarks, a per-template cache of
latents and blend masks, and the batched render loop.

Frames are the engine's I420 ``uint8`` arrays (``media``), landmarks the tracker's smoothed float32 (478, 2) in
frame pixels. Differences from the official ``scripts/inference.py`` (spec §6), on purpose:

- The box comes from FaceMesh instead of DWPose + S3FD, built to the same convention (``face_bbox``).
- A frame without a face passes through untouched and keeps its place (the official script drops it and pairs
  every later frame with the wrong latent).
- Frame i is conditioned on the audio at i / fps for the real frame rate (the official script chunks a 29.97 fps
  video at 29 fps and drifts by a frame every 30).
- Latents and masks depend only on the template frame, so each is computed once per template frame (the official
  script recomputes the mask for every output frame) and kept in an unlinked temporary file: memory stays flat
  however long the video, and a ping-pong pass over the template reuses them.
- The jaw mask is limited to the lower face of our own landmarks (``lower_face_guard``): under the nose, cheek
  to cheek, inside the face's outline. The official mask is whatever the face parser calls skin and mouth in
  the lower half of the box; a parser that errs (an unusual face, or weights that are not the released ones)
  would otherwise paste the generated square over hair, background or the neck beside the jaw.
- Only the pixels the blend mask reaches are written back into the I420 frame; all others stay bit-exact.
"""
from __future__ import annotations

import tempfile

import numpy as np

from ...face import interocular
from . import blend as _blend

EXTRA_MARGIN = 10  # v1.5: pixels added below the chin (y2), capped at the frame height
MIN_SIDE = 16  # boxes narrower or shorter than this are treated as no face
GUARD_FEATHER = 0.07  # inter-ocular distances over which the paste fades out inside the lower face's edge
GUARD_MARGIN = 0.03  # ... after this much of nothing: FaceMesh's jaw line wanders by a few pixels between runs
# FaceMesh points standing in for the 68-point jaw line (ear to ear through the chin) and eyebrows of the
# official DWPose landmarks; the box uses only their extremes.
JAW_AND_BROWS = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
                 361, 323, 454, 356, 70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
# The 68-point scheme's landmark 29 (on the nose ridge, 2/3 of the way from 27 to the tip 30) is FaceMesh point 5
# in the usual correspondence (27: 168, 28: 197, 29: 5, 30: 4). With it the box top lands about 0.3 of the
# brow-to-chin height above the brows, as in dlib's mean face (0.34).
RIDGE_29 = 5


def face_bbox(lm: np.ndarray, width: int, height: int, extra_margin: int = EXTRA_MARGIN):
    """The official v1.5 crop box ``(x1, y1, x2, y2)`` (ints, inside the frame's 4-pixel-aligned area) from
    FaceMesh landmarks float32 (478, 2), or None when it is degenerate.

    x1/x2: the jaw line's extremes (ear to ear); y2: the chin plus ``extra_margin``; y1: as far above landmark 29
    (on the nose ridge) as the chin is below it, i.e. a third of the face's height above the eyebrows.
    """
    pts = lm[list(JAW_AND_BROWS)]
    if not np.isfinite(pts).all():
        return None
    w4, h4 = width // 4 * 4, height // 4 * 4
    y29 = float(lm[RIDGE_29, 1])
    x1 = max(int(np.floor(pts[:, 0].min())), 0)
    x2 = min(int(np.floor(pts[:, 0].max())), w4)
    y2 = int(np.floor(pts[:, 1].max()))
    y1 = max(0, int(np.floor(y29 - (y2 - y29))))
    y2 = min(y2 + extra_margin, h4)
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        return None
    return x1, y1, x2, y2


def region_for(box, width: int, height: int):
    """The part of a crop box inside the frame, widened to 4-pixel boundaries for I420 cropping: (x0, y0, w, h),
    or None when the box misses the frame."""
    xs, ys, xe, ye = box
    w4, h4 = width // 4 * 4, height // 4 * 4
    x0, y0 = max(xs, 0) // 4 * 4, max(ys, 0) // 4 * 4
    x1, y1 = min(-(-xe // 4) * 4, w4), min(-(-ye // 4) * 4, h4)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def canvas(rgb_region: np.ndarray, region, box) -> np.ndarray:
    """The crop box as RGB uint8 (2s, 2s, 3), black where it leaves the frame (``region`` is ``region_for``)."""
    x0, y0, w, h = region
    xs, ys, xe, ye = box
    out = np.zeros((ye - ys, xe - xs, 3), np.uint8)
    ax, ay, bx, by = max(x0, xs), max(y0, ys), min(x0 + w, xe), min(y0 + h, ye)
    out[ay - ys : by - ys, ax - xs : bx - xs] = rgb_region[ay - y0 : by - y0, ax - x0 : bx - x0]
    return out


def lower_face_guard(lm: np.ndarray, box, width: int, height: int) -> np.ndarray:
    """Weights uint8 (2s, 2s) over the crop ``box``: 0 outside the lower face of landmarks float32 (478, 2),
    rising to 255 over ``GUARD_FEATHER`` inter-ocular distances after ``GUARD_MARGIN`` inside it.

    The lower face is the CPU engine's paste region: the hull of the outline under the nose, along the jaw and a
    little below the chin (``composite.lower_face_outline``), kept inside the face oval. The feather lies wholly
    inside it (a ramp on the distance to its edge), so nothing generated reaches the background or hair beside
    the jaw, where a paste shows as ghosting.
    """
    import cv2

    from ...composite import Compositor, lower_face_outline

    xs, ys, xe, ye = box
    hull = np.zeros((ye - ys, xe - xs), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lower_face_outline(lm) - [xs, ys]).astype(np.int32)), 255)
    # The face oval with the same chin drop as the outline (the CPU engine's own guard, at full size here).
    hard = np.minimum(hull, Compositor._face_oval(lm, xs, ys, 1, hull.shape))
    d = interocular(lm)
    ramp = (cv2.distanceTransform(hard, cv2.DIST_L2, 5) - GUARD_MARGIN * d) / max(2.0, GUARD_FEATHER * d)
    return np.round(np.clip(ramp, 0, 1) * 255).astype(np.uint8)


def guarded(jaw: np.ndarray, guard: np.ndarray) -> np.ndarray:
    """The jaw mask (uint8 (2s, 2s)) inside the guard: their product, uint8, 0 wherever either is 0."""
    return ((jaw.astype(np.uint32) * guard + 127) // 255).astype(np.uint8)


def face_crop(large: np.ndarray, bbox, box) -> np.ndarray:
    """The network's input for one face: ``bbox`` of the crop box canvas resized to 256x256 (LANCZOS4)."""
    import cv2

    x1, y1, x2, y2 = bbox
    xs, ys = box[0], box[1]
    crop = np.ascontiguousarray(large[y1 - ys : y2 - ys, x1 - xs : x2 - xs])
    return cv2.resize(crop, (256, 256), interpolation=cv2.INTER_LANCZOS4)


class TemplateCache:
    """Per template frame: its box, the UNet input latents (8, 32, 32) and the (guarded) blend mask trimmed to
    where it is non-zero, kept in an unlinked temporary file (``pread`` by index)."""

    def __init__(self, directory=None):
        self.file = tempfile.TemporaryFile(dir=directory)
        self.index: dict[int, tuple] = {}
        self.pos = 0

    def __contains__(self, i):
        return i in self.index

    def put(self, i: int, bbox, latents: np.ndarray, mask: np.ndarray, box) -> None:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if len(rows):
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        else:
            r0 = r1 = c0 = c1 = 0
        trimmed = np.ascontiguousarray(mask[r0:r1, c0:c1])
        lat = np.ascontiguousarray(latents, dtype=np.float32)
        self.file.write(lat.tobytes())
        self.file.write(trimmed.tobytes())
        self.index[i] = (self.pos, bbox, box, (int(r0), int(c0)), trimmed.shape, lat.shape)
        self.pos += lat.nbytes + trimmed.nbytes

    def get(self, i: int):
        """``(bbox, box, latents float32 (8, 32, 32), mask uint8 (h, w), (row, col) of the mask in the box)``."""
        import os

        self.file.flush()
        pos, bbox, box, origin, mshape, lshape = self.index[i]
        n_lat = int(np.prod(lshape)) * 4
        data = bytearray(os.pread(self.file.fileno(), n_lat + int(np.prod(mshape)), pos))
        lat = np.frombuffer(data[:n_lat], np.float32).reshape(lshape)
        mask = np.frombuffer(data[n_lat:], np.uint8).reshape(mshape)
        return bbox, box, lat, mask, origin

    def close(self):
        self.file.close()


class MuseTalkRenderer:
    """Lip-syncs engine frames in batches. One per run (it holds the template cache).

    ``apply(frames, template_ids, landmarks, feats)``: ``frames`` I420 uint8 frames (changed in place),
    ``template_ids`` the template frame each shows, ``landmarks`` matching float32 (478, 2) arrays or None (frame
    left untouched), ``feats`` float32 (len(frames), 50, 384) from ``MuseTalk.frame_features``. Returns the
    number of frames changed.

    ``raw``: the tracker's unsmoothed landmarks float32 (N_template, 478, 2), for the lower-face guard: the box
    follows the smoothed landmarks (no jitter), but those lag a moving head, and a guard drawn from them let the
    paste hang past the jaw onto the hair. Without it the guard uses ``landmarks``.
    """

    def __init__(self, model, width: int, height: int, directory=None, raw=None):
        self.model = model
        self.width, self.height = width, height
        self.cache = TemplateCache(directory)
        self.raw = raw

    def close(self):
        self.cache.close()

    def _rgb(self, frame, region):
        from ...face import crop_rgb

        return crop_rgb(frame, self.width, self.height, region)

    def _prepare(self, frames, template_ids, landmarks):
        """Fill the cache for the template frames of this batch not seen yet (batched VAE and parser calls)."""
        new, crops, larges, bboxes, boxes, guards = [], [], [], [], [], []
        for frame, t, lm in zip(frames, template_ids, landmarks):
            if lm is None or t in self.cache or t in new:
                continue
            bbox = face_bbox(lm, self.width, self.height)
            box = _blend.crop_box(bbox) if bbox else None
            region = region_for(box, self.width, self.height) if box else None
            if region is None:
                continue
            large = canvas(self._rgb(frame, region), region, box)
            new.append(t)
            bboxes.append(bbox)
            boxes.append(box)
            larges.append(large)
            crops.append(face_crop(large, bbox, box))
            guide = lm if self.raw is None else self.raw[t]
            guards.append(lower_face_guard(guide, box, self.width, self.height))
        if not new:
            return
        latents = self.model.latents(np.stack(crops)).numpy()
        masks = self.model.masks_of_canvases(larges, bboxes, boxes)
        for k, t in enumerate(new):
            self.cache.put(t, bboxes[k], latents[k], guarded(masks[k], guards[k]), boxes[k])

    def apply(self, frames, template_ids, landmarks, feats) -> int:
        self._prepare(frames, template_ids, landmarks)
        todo = [k for k, t in enumerate(template_ids) if landmarks[k] is not None and t in self.cache]
        if not todo:
            return 0
        entries = [self.cache.get(template_ids[k]) for k in todo]
        faces = self.model.decode_step(np.stack([e[2] for e in entries]), np.asarray(feats)[todo])
        for k, (bbox, box, _lat, mask, origin), face in zip(todo, entries, faces):
            self._paste(frames[k], face, bbox, box, mask, origin)
        return len(todo)

    def _paste(self, frame, face, bbox, box, mask, origin):
        """Blend one generated face into I420 ``frame`` in place, touching only pixels the mask reaches."""
        import cv2

        from ...media import split_planes

        if mask.size == 0:
            return
        xs, ys = box[0], box[1]
        # The mask's rectangle in frame coordinates; the blur may have spread it past the frame's edge.
        mh, mw = mask.shape
        mx0, my0 = xs + origin[1], ys + origin[0]
        region = region_for((mx0, my0, mx0 + mw, my0 + mh), self.width, self.height)
        if region is None:
            return
        x0, y0, w, h = region
        base = self._rgb(frame, region)
        top = base.copy()
        x1, y1, x2, y2 = bbox
        resized = cv2.resize(np.ascontiguousarray(face), (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
        ax, ay, bx, by = max(x0, x1), max(y0, y1), min(x0 + w, x2), min(y0 + h, y2)
        top[ay - y0 : by - y0, ax - x0 : bx - x0] = resized[ay - y1 : by - y1, ax - x1 : bx - x1]
        weights = np.zeros((h, w), np.uint8)
        ax, ay, bx, by = max(x0, mx0), max(y0, my0), min(x0 + w, mx0 + mw), min(y0 + h, my0 + mh)
        weights[ay - y0 : by - y0, ax - x0 : bx - x0] = mask[ay - my0 : by - my0, ax - mx0 : bx - mx0]
        out = _blend.mix(base, top, weights)
        i420 = cv2.cvtColor(out, cv2.COLOR_RGB2YUV_I420)
        y, u, v = split_planes(frame, self.width, self.height)
        rest = i420[h:].reshape(-1)
        keep = weights > 0
        keep_c = keep[::2, ::2] | keep[1::2, ::2] | keep[::2, 1::2] | keep[1::2, 1::2]
        ys_ = y[y0 : y0 + h, x0 : x0 + w]
        ys_[keep] = i420[:h].reshape(h, w)[keep]
        us = u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
        vs = v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
        us[keep_c] = rest[: h * w // 4].reshape(h // 2, w // 2)[keep_c]
        vs[keep_c] = rest[h * w // 4 :].reshape(h // 2, w // 2)[keep_c]


def render_stream(renderer: MuseTalkRenderer, base_frames, bases, smooth, valid, feats, write,
                  batch_size: int = 8, on_batch=None) -> int:
    """The render loop for the pipeline: output frame i shows template frame ``bases[i]`` lip-synced to
    ``feats.rows(i, i + 1)``.

    ``base_frames`` yields the I420 frames of ``bases`` in order (changed in place, so they must be copies);
    ``smooth`` float32 (N_template, 478, 2) and ``valid`` bool (N_template,) are the tracker's arrays; ``feats``
    an ``audio.FrameFeatures`` of at least len(bases) frames. Frames go through ``batch_size`` at a time and are
    handed to ``write(frame)`` in order; ``on_batch(frames_done)`` runs after each batch (progress, and a place
    to raise ``Cancelled``). Returns the number of frames whose mouth was generated.
    """
    changed = done = 0
    batch, ids, marks = [], [], []

    def flush():
        nonlocal changed, done, batch, ids, marks
        if batch:
            changed += renderer.apply(batch, ids, marks, feats.rows(done, done + len(batch)))
            for frame in batch:
                write(frame)
            done += len(batch)
            batch, ids, marks = [], [], []
            if on_batch is not None:
                on_batch(done)

    for i, frame in enumerate(base_frames):
        b = int(bases[i])
        batch.append(frame)
        ids.append(b)
        marks.append(smooth[b] if valid[b] else None)
        if len(batch) >= batch_size:
            flush()
    flush()
    return changed
