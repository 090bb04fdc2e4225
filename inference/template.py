"""The template video: its frames kept for the render pass, its face tracked, the base frame of each output frame.

The template is decoded once. Its lower faces go to an unlinked temporary file (``MouthCache``) so a backend may
take a mouth from any frame without holding the video in memory; whole frames are kept (``FrameCache``, raw I420)
only when the template must play backwards (ping-pong), otherwise it is decoded again in order, which is cheaper
than writing every frame to disk.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from . import media
from .progress import Stage

MIN_FACE_COVERAGE = 0.1  # below this share of template frames with a face, the template has "no face"


@dataclass
class Track:
    """The face in each template frame (N frames). ``raw`` float32 (N, 478, 2) FaceMesh landmarks in pixels as
    seen in that frame, ``smooth`` the same One-Euro smoothed (NaN rows where lost); ``valid`` bool (N,) face
    found; ``aperture``/``width`` float32 (N,) inner-lip gap and mouth width over the interocular distance (from
    ``raw``); ``pose`` float32 (N, 2) yaw/pitch proxies (``face.head_pose``); ``smile`` float32 (N,) corner
    lift (``face.smile``)."""

    raw: np.ndarray
    smooth: np.ndarray
    valid: np.ndarray
    aperture: np.ndarray
    width: np.ndarray
    pose: np.ndarray
    smile: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.valid)


class FrameCache:
    """Raw I420 frames in an unlinked temporary file, read back by index with ``pread``. Used only when the
    template must play backwards (ping-pong); otherwise it is decoded again in order, which is cheaper than
    writing every frame to disk. With ``store=False`` it only counts frames."""

    def __init__(self, frame_bytes: int, store: bool = True, directory=None):
        self.file = tempfile.TemporaryFile(dir=directory) if store else None
        self.frame_bytes = frame_bytes
        self.count = 0
        self.shape = None

    def append(self, frame: np.ndarray) -> None:
        self.shape = frame.shape
        if self.file is not None:
            self.file.write(frame.data)
        self.count += 1

    def get(self, index: int) -> np.ndarray:
        self.file.flush()
        data = os.pread(self.file.fileno(), self.frame_bytes, index * self.frame_bytes)
        return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(self.shape)

    def close(self):
        if self.file is not None:
            self.file.close()


class MouthCache:
    """The lower-face region of each template frame (RGB uint8 crops with their frame position), in an unlinked
    temporary file: retrieval may take a mouth from any template frame, and these crops are a few percent of a
    frame's size."""

    def __init__(self, directory=None):
        self.file = tempfile.TemporaryFile(dir=directory)
        self.index: dict[int, tuple[int, tuple, tuple]] = {}
        self.pos = 0

    def put(self, i: int, rgb: np.ndarray, origin: tuple[int, int]) -> None:
        self.file.write(rgb.data)
        self.index[i] = (self.pos, rgb.shape, origin)
        self.pos += rgb.nbytes

    def get(self, i: int):
        """``(rgb (h, w, 3) uint8, (x0, y0))`` of template frame ``i``."""
        self.file.flush()
        offset, shape, origin = self.index[i]
        data = os.pread(self.file.fileno(), int(np.prod(shape)), offset)
        return np.frombuffer(data, dtype=np.uint8).reshape(shape), origin

    def close(self):
        self.file.close()


def base_schedule(n_out: int, n_template: int, policy: str) -> np.ndarray:
    """Template frame index shown as the base of each output frame, int64 ``(n_out,)``."""
    i = np.arange(n_out)
    if policy == "loop" or n_template < 2:
        return i % max(n_template, 1)
    if policy == "cut":
        return np.minimum(i, n_template - 1)
    period = 2 * n_template - 2
    k = i % period
    return np.where(k < n_template, k, period - k)


def track_template(vinfo, width, height, fps, cache, mouths, progress) -> Track:
    """Decode the template once: cache its frames (``cache``) and lower faces (``mouths``), track the face."""
    from .composite import mouth_crop_box
    from .face import FaceTracker, crop_rgb, head_pose, mouth_shape, smile

    expected = max(vinfo.frame_count or int(vinfo.duration_s * fps) or 1, 1)
    tracker = FaceTracker(fps)
    raw, smooth, valid = [], [], []
    nan = np.full((478, 2), np.nan, dtype=np.float32)
    # Forced: the throttle must not swallow the stage's first report when the stage before ended < 0.25 s ago.
    progress(Stage.TRACK, 0.0, 0, expected, "Tracking the face", force=True)
    try:
        for i, frame in enumerate(prefetch(media.iter_video_frames(vinfo))):
            cache.append(frame)
            found = tracker.track(frame, width, height)
            if found:
                box = mouth_crop_box(found[0], width, height)
                mouths.put(i, crop_rgb(frame, width, height, box), box[:2])
            raw.append(found[0] if found else nan)
            smooth.append(found[1] if found else nan)
            valid.append(found is not None)
            if i % 8 == 0:
                progress(Stage.TRACK, i / expected, i + 1, expected, "Tracking the face")
            # Give up early when so few frames can still have a face that the template cannot qualify.
            missing = len(valid) - sum(valid)
            if missing > (1 - MIN_FACE_COVERAGE) * expected + 25 and sum(valid) == 0:
                break
    finally:
        tracker.close()
    if not valid:
        return Track(np.zeros((0, 478, 2), np.float32), np.zeros((0, 478, 2), np.float32), np.zeros(0, bool),
                     np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros((0, 2), np.float32))
    raw_a = np.stack(raw)
    shapes = np.array([mouth_shape(r) if ok else (np.nan, np.nan) for r, ok in zip(raw_a, valid)], np.float32)
    smooth_a = np.stack(smooth)
    pose = np.array([head_pose(m) if ok else (0.0, 0.0) for m, ok in zip(smooth_a, valid)], np.float32)
    lift = np.array([smile(r) if ok else 0.0 for r, ok in zip(raw_a, valid)], np.float32)
    return Track(raw_a, smooth_a, np.array(valid), shapes[:, 0], shapes[:, 1], pose, lift)


def prefetch(frames, depth: int = 6):
    """Decode on a helper thread while the caller tracks faces: FFmpeg and mediapipe both release the GIL, so
    on two cores the two overlap. Errors raised while decoding are re-raised in the caller."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for frame in frames:
                if stop.is_set():
                    return
                q.put(frame)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def in_order(vinfo, bases):
    """Base frames for a schedule that only moves forward (or restarts at 0), decoded again in order. The caller
    paints on each frame, so one that is handed out again next (a held base, or the last frame of a decode that
    came up short) goes out as a copy; the others go out as decoded (copying every 1080p frame cost 1 ms of the
    render's CPU)."""
    bases = [int(b) for b in bases]
    frames = None
    current = -1
    frame, ahead = None, None  # the current frame, and the one after it (None: the decode has ended)
    for i, b in enumerate(bases):
        if frames is None or b < current:
            if frames is not None:
                frames.close()
            frames = prefetch(media.iter_video_frames(vinfo))
            current, ahead = -1, next(frames, None)
        while current < b and ahead is not None:
            frame, ahead, current = ahead, next(frames, None), current + 1
        following = bases[i + 1] if i + 1 < len(bases) else -1
        held = following == current or (following > current and ahead is None)
        yield frame.copy() if held else frame
    if frames is not None:
        frames.close()
