"""Phone decoding in a child process, so it runs beside face tracking instead of before and after it.

pocketsphinx holds the GIL while it decodes (measured: a pure-Python thread kept 7 % of its speed beside it),
so a thread cannot overlap it with tracking, while a process can: tracking leaves part of the second core
idle. Run as ``python -m inference.phones PARENT_PID WORDS:K:N,...`` (per clip: recognise words or not, and
decode part K of N of its utterances): reads clips as consecutive ``.npy`` arrays on stdin (nothing is
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


CHILDREN = 2  # word recognition costs 0.12 CPU s per second of speech: two children halve the wait after tracking


class BackgroundPhones:
    """Starts decoding ``clips`` (mono float32 16 kHz arrays) at once; ``result()`` waits for the phones.
    ``words`` (one bool per clip, default all True): recognise words first (``speech.decode_phones``). A clip
    whose words are recognised is shared by ``children`` processes, each decoding a run of its utterances:
    most of that work is left when tracking ends, and then both cores are free."""

    def __init__(self, clips: list[np.ndarray], words: list[bool] | None = None, children: int = CHILDREN):
        self.clips = clips
        self.words = [True] * len(clips) if words is None else list(words)
        # Work items (clip, part k of n), dealt out so each child gets a share of the costly word clips.
        self.parts = [children if w else 1 for w in self.words]
        items = [(c, (k, n)) for c, n in enumerate(self.parts) for k in range(n)]
        self.shares = [items[i::children] for i in range(children)]
        self.shares = [share for share in self.shares if share]
        self.procs, self.senders = [], []
        for share in self.shares:
            spec = ",".join(f"{int(self.words[c])}:{k}:{n}" for c, (k, n) in share)
            try:
                proc = subprocess.Popen([sys.executable, "-m", "inference.phones", str(os.getpid()), spec],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            except OSError:
                self.close()
                self.procs = []
                return
            self.procs.append(proc)
            # Sent from a thread: the pipe takes the audio only as fast as the child starts up and reads it.
            sender = threading.Thread(target=self._send, args=(proc, [clips[c] for c, _ in share]),
                                      name="phones-send", daemon=True)
            sender.start()
            self.senders.append(sender)

    @property
    def proc(self):
        """The first child (None when none could start)."""
        return self.procs[0] if self.procs else None

    @staticmethod
    def _send(proc, clips):
        pipe, proc.stdin = proc.stdin, None  # closed here, at the end: communicate() must not touch it
        try:
            with pipe:
                for clip in clips:
                    data = io.BytesIO()  # np.save writes arrays to real files with tofile(), which needs a position
                    np.save(data, np.ascontiguousarray(clip, dtype=np.float32))
                    pipe.write(data.getbuffer())
        except (OSError, ValueError):
            pass  # the child died or was stopped; result() falls back

    def result(self, on_wait=None) -> list[list[tuple[str, float, float]]]:
        """The phones of each clip. ``on_wait()`` is called twice a second while a child still decodes (the
        pipeline's progress, which also raises ``Cancelled``)."""
        try:
            parts = {}
            for proc, sender, share in zip(self.procs, self.senders, self.shares):
                out = self._wait(proc, sender, on_wait)
                if proc.returncode != 0:
                    break
                for (c, (k, _)), phones in zip(share, json.loads(out)):
                    parts[c, k] = [(p, float(s), float(e)) for p, s, e in phones]
            else:
                if self.procs:
                    return [[ph for k in range(n) for ph in parts[c, k]] for c, n in enumerate(self.parts)]
        except (OSError, ValueError):
            pass
        finally:
            self.close()
        return [decode_phones(clip, words=w) for clip, w in zip(self.clips, self.words)]

    @staticmethod
    def _wait(proc, sender, on_wait):
        while sender.is_alive():
            sender.join(0.5)
            if sender.is_alive() and on_wait is not None:
                on_wait()
        while True:
            try:
                # communicate(), not wait(): the child's output can outgrow the pipe's buffer.
                out, _ = proc.communicate(timeout=0.5)
                return out
            except subprocess.TimeoutExpired:
                if on_wait is not None:
                    on_wait()

    def close(self) -> None:
        """Stops the children that still run (a cancelled job)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for sender in self.senders:
            sender.join()


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
    # One "WORDS:K:N" per clip: recognise words (1) or not (0), and decode part K of N of its utterances.
    specs = [tuple(int(x) for x in item.split(":")) for item in sys.argv[2].split(",")] if len(sys.argv) > 2 else []
    specs += [(1, 0, 1)] * (len(clips) - len(specs))
    json.dump([decode_phones(clip, words=bool(w), part=(k, n)) for clip, (w, k, n) in zip(clips, specs)], sys.stdout)


if __name__ == "__main__":
    main()
