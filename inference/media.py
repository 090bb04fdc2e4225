"""Reading and writing media with PyAV, as generators with bounded memory.

Video frames travel as I420 (yuv420p) arrays: ``np.ndarray`` uint8 of shape ``(H * 3 // 2, W)`` holding the Y
plane, then U, then V (each chroma plane ``(H // 2, W // 2)``, flattened). Keeping frames in the encoder's own
format means only the small face region is ever converted to RGB. Frames are in display orientation (rotation
metadata applied) and have even sizes (odd ones are scaled down by one pixel, a yuv420p requirement).

Every PyAV/FFmpeg failure is turned into ``UnsupportedMedia`` here, at the edge, so callers see only our errors.
"""
from __future__ import annotations

import contextlib
import fractions
import math
import os
from typing import Iterator

import numpy as np

from .config import Config, MediaInfo
from .errors import InputTooLarge, InputTooLong, NoAudioStream, NoVideoStream, UnsupportedMedia

ANALYSIS_RATE = 16000


@contextlib.contextmanager
def _media_errors(path):
    """Map decoder and container errors raised inside the block to ``UnsupportedMedia``."""
    import av

    try:
        yield
    except (av.FFmpegError, EOFError, ValueError, IndexError, UnicodeDecodeError, MemoryError) as exc:
        raise UnsupportedMedia(f"{os.path.basename(str(path))}: {type(exc).__name__}: {exc}") from exc


def _open(path):
    import av

    if not os.path.isfile(path):
        raise UnsupportedMedia(f"not a file: {path}")
    with _media_errors(path):
        return av.open(str(path), "r", metadata_errors="ignore")


def split_planes(yuv: np.ndarray, width: int, height: int):
    """Views of the Y ``(H, W)``, U and V ``(H/2, W/2)`` planes of an I420 frame."""
    flat = yuv.reshape(-1)
    n = width * height
    y = flat[:n].reshape(height, width)
    u = flat[n : n + n // 4].reshape(height // 2, width // 2)
    v = flat[n + n // 4 : n + n // 2].reshape(height // 2, width // 2)
    return y, u, v


def join_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def _rotate_i420(yuv: np.ndarray, width: int, height: int, quarter_turns_ccw: int) -> np.ndarray:
    if quarter_turns_ccw % 4 == 0:
        return yuv
    planes = [np.rot90(p, quarter_turns_ccw) for p in split_planes(yuv, width, height)]
    return join_planes(*[np.ascontiguousarray(p) for p in planes])


def _stream_rotation(container, stream) -> int:
    """Counter-clockwise display rotation in degrees (0/90/180/270) from the first decoded frame's matrix."""
    for frame in container.decode(stream):
        return int(round(frame.rotation / 90.0)) * 90 % 360
    return 0


def probe(path) -> MediaInfo:
    """Describe a media file. ``rotation`` is the clockwise turn a player applies; sizes are as displayed."""
    container = _open(path)
    with container, _media_errors(path):
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = container.duration / 1e6 if container.duration else 0.0
        info = MediaInfo(
            path=str(path),
            container=container.format.name,
            duration_s=round(duration, 3),
            size_bytes=os.path.getsize(path),
            has_video=video is not None,
            has_audio=audio is not None,
        )
        if audio is not None:
            info.audio_codec = audio.codec_context.name
            info.sample_rate = audio.codec_context.sample_rate
            info.channels = audio.codec_context.channels
            if not duration and audio.duration and audio.time_base:
                info.duration_s = round(float(audio.duration * audio.time_base), 3)
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
            info.video_codec = video.codec_context.name
            info.fps = round(float(rate), 3) if rate else None
            info.frame_count = video.frames or None
            ccw = _stream_rotation(container, video)
            # A player turns the picture clockwise by the negated counter-clockwise matrix angle.
            info.rotation = (-ccw) % 360
            w, h = video.codec_context.width, video.codec_context.height
            if not w or not h:
                raise UnsupportedMedia("video stream without a size")
            info.width, info.height = (h, w) if ccw in (90, 270) else (w, h)
            if not duration and video.duration and video.time_base:
                info.duration_s = round(float(video.duration * video.time_base), 3)
    return info


def check_limits(info: MediaInfo, config: Config) -> None:
    """Raise InputTooLarge / InputTooLong when a file exceeds the configured limits."""
    if config.max_bytes is not None and info.size_bytes > config.max_bytes:
        raise InputTooLarge(f"{info.size_bytes} bytes")
    if config.max_pixels is not None and info.width and info.width * info.height > config.max_pixels:
        raise InputTooLarge(f"{info.width}x{info.height}")
    if config.max_duration_s is not None and info.duration_s > config.max_duration_s:
        raise InputTooLong(f"{info.duration_s:.1f} s")


def video_geometry(info: MediaInfo) -> tuple[int, int, fractions.Fraction]:
    """The output frame size (display orientation, even) and the constant output rate."""
    if not info.has_video:
        raise NoVideoStream(info.path)
    fps = fractions.Fraction(info.fps or 25).limit_denominator(1001)
    if fps <= 0 or fps > 240:
        raise UnsupportedMedia(f"frame rate {info.fps}")
    return info.width & ~1, info.height & ~1, fps


def iter_video_frames(info: MediaInfo) -> Iterator[np.ndarray]:
    """Decode the template as constant-rate I420 frames in display orientation.

    Variable frame rate becomes constant at ``info.fps``: each output slot ``n`` (time ``t0 + n / fps``) shows
    the latest source frame at or before it, so dropped or doubled source frames neither drift nor stutter.
    Yields ``(H * 3 // 2, W)`` uint8 arrays, W/H from ``video_geometry``.
    """
    width, height, fps = video_geometry(info)
    ccw = (-info.rotation) % 360
    coded_w, coded_h = (height, width) if ccw in (90, 270) else (width, height)
    container = _open(info.path)
    with container, _media_errors(info.path):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0 = None
        next_slot = 0
        pending = None
        for index, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else index / float(fps)
            if t0 is None:
                t0 = t
            slot = int(math.floor((t - t0) * fps + 0.5))
            if pending is not None:
                while next_slot < slot:
                    # Each slot gets its own array (callers paint on frames); only a repeat costs a copy.
                    yield pending if next_slot == slot - 1 else pending.copy()
                    next_slot += 1
            if frame.width != coded_w or frame.height != coded_h or frame.format.name != "yuv420p":
                frame = frame.reformat(width=coded_w, height=coded_h, format="yuv420p")
            pending = _rotate_i420(frame.to_ndarray(), coded_w, coded_h, ccw // 90)
            next_slot = max(next_slot, slot)
        if pending is not None:
            yield pending


def load_audio(path, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Decode a file's first audio stream to mono float32 in [-1, 1] at ``rate`` Hz, shape ``(samples,)``."""
    import av

    container = _open(path)
    chunks = []
    with container, _media_errors(path):
        if not container.streams.audio:
            raise NoAudioStream(str(path))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(container.streams.audio[0]):
            frame.pts = None  # the resampler trips over broken timestamps, and we need none
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1).copy())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1).copy())
    if not chunks:
        raise NoAudioStream(f"{path}: no decodable audio")
    samples = np.concatenate(chunks)
    del chunks
    return np.clip(samples, -1.0, 1.0, out=samples)  # in place: a 10-minute track is 38 MB a copy


class VideoWriter:
    """H.264 + AAC MP4 writer that interleaves the driving audio as video frames arrive.

    Audio is pulled from its file only up to the time of the last written video frame, so the muxer never has
    to queue a whole soundtrack in memory. Writes to ``path`` directly; callers write to a temporary name and
    rename on success so a failed or cancelled job leaves nothing behind.
    """

    def __init__(self, path, audio_path, width: int, height: int, fps: fractions.Fraction, config: Config,
                 audio_limit: float | None = None, background: bool = False):
        import av

        self._av = av
        self.fps = fps = fractions.Fraction(fps)
        self.frames = 0
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height = width, height
        self.video.pix_fmt = "yuv420p"
        self.video.thread_type = "AUTO"
        self.video.options = {"preset": config.preset, "crf": str(config.crf)}
        self._audio_in = _open(audio_path)
        if not self._audio_in.streams.audio:
            self._audio_in.close()
            raise NoAudioStream(str(audio_path))
        src = self._audio_in.streams.audio[0]
        # 44.1 or 48 kHz only: at low rates one 1024-sample AAC frame outlasts a video frame, and the padding
        # of the last one would make the output visibly longer than the audio.
        rate = 44100 if src.codec_context.sample_rate == 44100 else 48000
        layout = "mono" if (src.codec_context.channels or 1) == 1 else "stereo"
        self.audio = self.container.add_stream("aac", rate=rate, layout=layout)
        self.audio.bit_rate = 128000 if layout == "stereo" else 96000
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate, frame_size=1024)
        self._audio_frames = self._decode_audio(src)
        self._audio_time = 0.0
        self._audio_done = False
        self._audio_limit = audio_limit  # seconds of audio to keep (None: all of it)
        # ``background``: encode and mux on a helper thread. x264 is handed a frame and waits for an earlier
        # one inside ``encode`` (with the GIL released); on that thread the wait overlaps the caller's work on
        # the next frame (a paste) instead of adding to it. The caller's array is copied into the encoder's
        # frame before ``write`` returns, so callers may reuse it as with a plain writer.
        self._encoder = _EncodeThread(self._encode) if background else None

    def _decode_audio(self, src):
        with _media_errors(self._audio_in.name):
            for frame in self._audio_in.decode(src):
                frame.pts = None
                yield from self._resampler.resample(frame)
            yield from self._resampler.resample(None)

    def _pump_audio(self, until: float) -> None:
        if self._audio_limit is not None:
            until = min(until, self._audio_limit)
        while not self._audio_done and self._audio_time < until:
            frame = next(self._audio_frames, None)
            if frame is None:
                self._audio_done = True
                break
            frame.pts = None
            self._audio_time += frame.samples / frame.sample_rate
            with _media_errors(self._audio_in.name):
                for packet in self.audio.encode(frame):
                    self.container.mux(packet)

    def write(self, yuv: np.ndarray) -> None:
        """Append one ``(H * 3 // 2, W)`` uint8 I420 frame."""
        frame = self._av.VideoFrame(self.video.width, self.video.height, "yuv420p")
        y, u, v = split_planes(yuv, self.video.width, self.video.height)
        for plane, data in zip(frame.planes, (y, u, v)):
            _copy_plane(plane, data)
        frame.pts = self.frames
        frame.time_base = 1 / self.fps
        self.frames += 1
        if self._encoder is not None:
            self._encoder.put(frame)
        else:
            self._encode(frame)

    def _encode(self, frame) -> None:
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self._pump_audio((frame.pts + 1) / float(self.fps))

    def close(self, finish: bool = True) -> None:
        """Flush the encoders (``finish``) and close both files; safe to call twice."""
        if self.container is None:
            return
        try:
            if self._encoder is not None:
                encoder, self._encoder = self._encoder, None
                encoder.close(finish)  # raises what the thread raised, when finishing
            if finish:
                self._pump_audio(float("inf"))
                for packet in self.video.encode(None):
                    self.container.mux(packet)
                for packet in self.audio.encode(None):
                    self.container.mux(packet)
        finally:
            self.container.close()
            self._audio_in.close()
            self.container = None


class _EncodeThread:
    """Runs ``encode(item)`` for each ``put`` item, in order, on one helper thread with a short queue. An error
    there is raised by the next ``put`` or by ``close``."""

    DEPTH = 4  # frames in flight: enough to ride out a slow paste, 12 MB at 1080p

    def __init__(self, encode):
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._encode = encode
        self._thread = threading.Thread(target=self._run, name="encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            try:
                self._encode(item)
            except BaseException as exc:  # handed to the caller
                self._error = exc
                self._stop.set()
                return

    def put(self, item) -> None:
        import queue

        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.1)  # re-checks for an error should the thread have died
                return
            except queue.Full:
                continue

    def close(self, finish: bool) -> None:
        """Wait for the queued frames (``finish``) or drop them, and stop the thread."""
        import queue

        if not finish:
            self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if not finish:
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
        self._thread.join()
        if finish and self._error is not None:
            raise self._error


def _copy_plane(plane, data: np.ndarray) -> None:
    # Encoder planes may be padded to an alignment: copy row by row when the line size differs.
    h, w = data.shape
    if plane.line_size == w:
        plane.update(np.ascontiguousarray(data))
    else:
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        buf[:h, :w] = data


def audio_duration(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> float:
    return len(samples) / float(rate)
