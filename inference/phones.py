"""Phone decoding in a child process, so it runs beside face tracking instead of before and after it.

pocketsphinx holds the GIL while it decodes (measured: a pure-Python thread kept 7 % of its speed beside it),
so a thread cannot overlap it with tracking, while a process can: tracking leaves part of the second core
idle. Run as ``python -m inference.phones PARENT_PID FLAGS`` (FLAGS: one 1 or 0 per clip, recognise words or
not): reads clips as consecutive ``.npy`` arrays on stdin (nothing is
written to disk, so a killed worker leaves nothing behind) and prints one JSON list of ``[phone, start_s,
end_s]`` per clip. A child that cannot start or fails costs nothing but time: the caller decodes in process.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import numpy as np

from .speech import decode_phones


class BackgroundPhones:
    """Starts decoding ``clips`` (mono float32 16 kHz arrays) at once; ``result()`` waits for the phones.
    ``words`` (one bool per clip, default all True): recognise words first (``speech.decode_phones``)."""

    def __init__(self, clips: list[np.ndarray], words: list[bool] | None = None):
        self.clips = clips
        self.words = [True] * len(clips) if words is None else list(words)
        self.sender = None
        flags = "".join("1" if w else "0" for w in self.words)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "inference.phones", str(os.getpid()), flags],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        except OSError:
            self.proc = None
            return
        # Sent from a thread: the pipe takes the audio only as fast as the child starts up and reads it.
        self.sender = threading.Thread(target=self._send, name="phones-send", daemon=True)
        self.sender.start()

    def _send(self):
        pipe, self.proc.stdin = self.proc.stdin, None  # closed here, at the end: communicate() must not touch it
        try:
            with pipe:
                for clip in self.clips:
                    data = io.BytesIO()  # np.save writes arrays to real files with tofile(), which needs a position
                    np.save(data, np.ascontiguousarray(clip, dtype=np.float32))
                    pipe.write(data.getbuffer())
        except (OSError, ValueError):
            pass  # the child died or was stopped; result() falls back

    def result(self, on_wait=None) -> list[list[tuple[str, float, float]]]:
        """The phones of each clip. ``on_wait()`` is called twice a second while the child still decodes (the
        pipeline's progress, which also raises ``Cancelled``)."""
        try:
            if self.proc is not None:
                while self.sender.is_alive():
                    self.sender.join(0.5)
                    if self.sender.is_alive() and on_wait is not None:
                        on_wait()
                while True:
                    try:
                        # communicate(), not wait(): the child's output can outgrow the pipe's buffer.
                        out, _ = self.proc.communicate(timeout=0.5)
                        break
                    except subprocess.TimeoutExpired:
                        if on_wait is not None:
                            on_wait()
                if self.proc.returncode == 0:
                    return [[(p, float(s), float(e)) for p, s, e in clip] for clip in json.loads(out)]
        except (OSError, ValueError):
            pass
        finally:
            self.close()
        return [decode_phones(clip, words=w) for clip, w in zip(self.clips, self.words)]

    def close(self) -> None:
        """Stops the child if it still runs (a cancelled job)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sender is not None:
            self.sender.join()


def _end_with_parent(parent: int) -> None:
    """Asks the kernel for SIGTERM when the process that started this one dies (a killed worker leaves no
    decoder behind); exits at once if it is already gone."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # Not Linux: the closed pipe ends it after the current clip instead.
    if os.getppid() != parent:
        sys.exit(1)


def main() -> None:
    if len(sys.argv) > 1:
        _end_with_parent(int(sys.argv[1]))
    data = io.BytesIO(sys.stdin.buffer.read())  # np.load needs a seekable file; a pipe is not
    clips = []
    while data.tell() < len(data.getbuffer()):
        clips.append(np.load(data))
    flags = sys.argv[2] if len(sys.argv) > 2 else ""
    words = [flags[i:i + 1] != "0" for i in range(len(clips))]
    json.dump([decode_phones(clip, words=w) for clip, w in zip(clips, words)], sys.stdout)


if __name__ == "__main__":
    main()
