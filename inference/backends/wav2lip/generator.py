"""Running the generator on engine frames: face boxes, 96x96 BGR crops, batched inference, feathered paste-back.

Frames are the engine's I420 ``uint8`` arrays (``media``), landmarks the tracker's smoothed float32 (478, 2) in
frame pixels (``face.FaceTracker``). Differences from the official ``inference.py`` (spec §6), on purpose:

- The box comes from the FaceMesh landmarks instead of S3FD, then gets the official padding convention
  (``pads`` = top, bottom, left, right in pixels, default 0, 10, 0, 0), and is snapped outward to multiples of 4
  because the engine crops I420 frames on 4-pixel boundaries. The landmarks are already smoothed (One Euro), so
  the official 5-box mean is not applied.
- The prediction is pasted with the engine's feathered mask and colour matching (``composite.Compositor``),
  restricted to the lower half of the box, instead of a hard paste of the whole box: the upper half is only the
  network's reconstruction of the unmasked reference and would blur the eyes.
"""
from __future__ import annotations

import math

import numpy as np

from ...runtime import in_batches

PADS = (0, 10, 0, 0)  # top, bottom, left, right (spec §6.3 default)
SIZE = 96
PER_SAMPLE_BYTES = 24 * 1024**2  # fp32 activations + cuDNN workspace per 96x96 sample, with headroom (measured ~8 MB)
FREE_MEMORY_SHARE = 0.5  # of the GPU memory free at batch time; other work (tracking, compositing) shares the GPU


def face_box(lm: np.ndarray, width: int, height: int, pads=PADS):
    """The generator's crop ``(x0, y0, w, h)`` for one face: the landmarks' bounding box plus ``pads``, clipped to
    the frame, corners on multiples of 4 (w, h >= 4)."""
    pt, pb, pl, pr = pads
    x1 = max(0.0, float(np.min(lm[:, 0])) - pl)
    y1 = max(0.0, float(np.min(lm[:, 1])) - pt)
    x2 = min(float(width), float(np.max(lm[:, 0])) + pr)
    y2 = min(float(height), float(np.max(lm[:, 1])) + pb)
    x0, y0 = int(x1) // 4 * 4, int(y1) // 4 * 4
    xe = min(int(math.ceil(x2 / 4)) * 4, width // 4 * 4)
    ye = min(int(math.ceil(y2 / 4)) * 4, height // 4 * 4)
    return x0, y0, max(xe - x0, 4), max(ye - y0, 4)


def face_crop(yuv: np.ndarray, width: int, height: int, box) -> np.ndarray:
    """The box of an I420 frame as the generator sees it: BGR uint8 (96, 96, 3), ``cv2.resize`` INTER_LINEAR."""
    import cv2

    from ...face import crop_rgb

    rgb = crop_rgb(yuv, width, height, box)
    return cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


def prepare_faces(faces_bgr: np.ndarray) -> np.ndarray:
    """Generator face input from crops: uint8 (N, 96, 96, 3) BGR -> float32 (N, 6, 96, 96) in [0, 1].

    Channels 0-2: the crop with rows 48..95 (the lower half) set to 0; channels 3-5: the unmasked crop as the
    pose reference (at inference the reference is the same frame, spec §4).
    """
    faces = np.asarray(faces_bgr)
    if faces.ndim != 4 or faces.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(f"faces must be (N, 96, 96, 3), got {faces.shape}")
    masked = faces.copy()
    masked[:, SIZE // 2 :] = 0
    x = np.concatenate([masked, faces], axis=3).astype(np.float32) / 255.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class Wav2LipRunner:
    """Batched generator inference on one device. Keep one per worker process (the model is ~145 MB).

    ``fp16`` runs under CUDA autocast (ignored on CPU, where half precision is slower). ``max_batch`` caps the
    batch (the official default is 128); on CUDA the batch is also bounded by free memory, and halved and retried
    when the GPU still runs out.
    """

    def __init__(self, model, device: str = "cpu", fp16: bool = False, max_batch: int = 128):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.fp16 = bool(fp16) and self.device.type == "cuda"
        self.max_batch = max(1, int(max_batch))

    def batch_size(self) -> int:
        """Samples per forward pass: ``max_batch`` on CPU; on CUDA also at most half the free memory's worth."""
        if self.device.type != "cuda":
            return self.max_batch
        free, _total = self.torch.cuda.mem_get_info(self.device)
        per = PER_SAMPLE_BYTES // (2 if self.fp16 else 1)
        return int(min(self.max_batch, max(1, free * FREE_MEMORY_SHARE // per)))

    def predict(self, faces_bgr: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """Generated faces for ``faces_bgr`` uint8 (N, 96, 96, 3) BGR and ``mels`` float32 (N, 80, 16) in [-4, 4].

        Returns uint8 (N, 96, 96, 3) BGR; values are truncated (not rounded) as in the official paste.
        """
        n = len(faces_bgr)
        if len(mels) != n:
            raise ValueError(f"{n} faces but {len(mels)} mel windows")
        out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)

        def step(i, j):
            out[i:j] = self._forward(faces_bgr[i:j], mels[i:j])

        # The free-memory estimate can be optimistic (fragmentation, another process): halved and retried.
        in_batches(n, self.batch_size(), step)
        return out

    def _forward(self, faces_bgr, mels) -> np.ndarray:
        torch = self.torch
        face = torch.from_numpy(prepare_faces(faces_bgr)).to(self.device, non_blocking=True)
        audio = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)[:, None]).to(self.device)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            pred = self.model(audio, face)
            pred = pred.float().clamp(0, 1).mul(255).permute(0, 2, 3, 1)
            return pred.cpu().numpy().astype(np.uint8)


def lower_half_mask(box, region_box, mask: np.ndarray, feather: float) -> np.ndarray:
    """``mask`` (of ``region_box``) limited to the lower half of the generator's ``box``, float32 in [0, 1].

    Zero above the box's middle row (rounded down to an even frame row, so no I420 chroma sample of the upper
    half is touched) and outside the box; rises to the full mask over ``feather`` pixels below the middle.
    """
    x0, y0, w, h = box
    rx, ry, rw, rh = region_box
    mid = (y0 + h // 2) // 2 * 2
    rows = np.arange(ry, ry + rh, dtype=np.float32)
    cols = np.arange(rx, rx + rw)
    ramp = np.clip((rows - mid + 1) / max(feather, 1.0), 0.0, 1.0)
    ramp[rows < mid] = 0.0
    ramp[rows >= y0 + h] = 0.0
    inside = ((cols >= x0) & (cols < x0 + w)).astype(np.float32)
    return (mask * ramp[:, None] * inside[None, :]).astype(np.float32)


def paste_prediction(compositor, frame: np.ndarray, lm: np.ndarray, box, pred_bgr: np.ndarray) -> None:
    """Blend a generated face (uint8 (96, 96, 3) BGR, for ``box``) into I420 ``frame`` in place.

    Only the lower face is written: the compositor's feathered lower-face mask for ``lm``, cut to the lower half
    of ``box``. Pixels outside that area stay bit-exact; colour is matched on the feather ring.
    """
    import cv2

    from ...composite import lower_face_outline
    from ...face import crop_rgb, interocular

    x0, y0, w, h = box
    region, mask = compositor.region(lm, lower_face_outline(lm))
    rx, ry, rw, rh = region
    mask = lower_half_mask(box, region, mask, max(2.0, 0.07 * interocular(lm)))
    if not mask.any():
        return
    patch = crop_rgb(frame, compositor.width, compositor.height, region).copy()
    pred = cv2.resize(np.ascontiguousarray(pred_bgr[..., ::-1]), (w, h), interpolation=cv2.INTER_LINEAR)
    # Overlap of the region with the generator's box, in frame coordinates; the mask is zero outside it.
    ax, ay = max(rx, x0), max(ry, y0)
    bx, by = min(rx + rw, x0 + w), min(ry + rh, y0 + h)
    if bx > ax and by > ay:
        patch[ay - ry : by - ry, ax - rx : bx - rx] = pred[ay - y0 : by - y0, ax - x0 : bx - x0]
    compositor.paste(frame, lm, patch, region, mask)


class Wav2LipRenderer:
    """Lip-syncs engine frames in batches: crop, generate, paste. One per run (it holds the compositor).

    ``apply(frames, landmarks, mels)``: ``frames`` a list of I420 uint8 frames (changed in place), ``landmarks``
    matching float32 (478, 2) arrays or ``None`` for frames without a face (left untouched), ``mels`` float32
    (len(frames), 80, 16) from ``audio.mel_windows``. Returns the number of frames changed.
    """

    def __init__(self, runner: Wav2LipRunner, width: int, height: int, pads=PADS, compositor=None):
        from ...composite import Compositor

        self.runner = runner
        self.width, self.height = width, height
        self.pads = pads
        self.compositor = compositor or Compositor(width, height, str(runner.device))

    def apply(self, frames, landmarks, mels) -> int:
        todo = [i for i, lm in enumerate(landmarks) if lm is not None and np.isfinite(lm).all()]
        if not todo:
            return 0
        boxes = [face_box(landmarks[i], self.width, self.height, self.pads) for i in todo]
        crops = np.stack([face_crop(frames[i], self.width, self.height, b) for i, b in zip(todo, boxes)])
        preds = self.runner.predict(crops, np.asarray(mels, dtype=np.float32)[todo])
        for k, i in enumerate(todo):
            paste_prediction(self.compositor, frames[i], landmarks[i], boxes[k], preds[k])
        return len(todo)


def render_stream(renderer: Wav2LipRenderer, base_frames, bases, smooth, valid, mels, write, batch_size: int = 32,
                  on_batch=None) -> int:
    """The render loop for the pipeline: output frame i shows template frame ``bases[i]`` lip-synced to
    ``mels[i]``.

    ``base_frames`` yields the I420 frames of ``bases`` in order (changed in place, so they must be copies);
    ``smooth`` float32 (N_template, 478, 2) and ``valid`` bool (N_template,) are the tracker's arrays; ``mels``
    float32 (n_out, 80, 16) from ``audio.mel_windows(mel, fps, n_out)``. Frames are generated ``batch_size`` at a
    time and handed to ``write(frame)`` in order; ``on_batch(frames_done)`` runs after each batch (progress, and a
    place to raise ``Cancelled``). Returns the number of frames whose mouth was generated.
    """
    changed = 0
    done = 0
    batch, marks = [], []

    def flush():
        nonlocal changed, done, batch, marks
        if batch:
            changed += renderer.apply(batch, marks, mels[done : done + len(batch)])
            for frame in batch:
                write(frame)
            done += len(batch)
            batch, marks = [], []
            if on_batch is not None:
                on_batch(done)

    for i, frame in enumerate(base_frames):
        b = int(bases[i])
        batch.append(frame)
        marks.append(smooth[b] if valid[b] else None)
        if len(batch) >= batch_size:
            flush()
    flush()
    return changed
