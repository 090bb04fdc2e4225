"""Phone decoding in a child process, so it runs beside face tracking instead of before and after it.

pocketsphinx holds the GIL while it decodes (measured: a pure-Python thread kept 7 % of its speed beside it),
so a thread cannot overlap it with tracking, while a process can: tracking leaves part of the second core
idle. Run as ``python -m inference.phones CLIP.npy ...``: prints one JSON list of ``[phone, start_s, end_s]``
per clip. A child that cannot start or fails costs nothing but time: the caller decodes in process instead.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from .speech import decode_phones


class BackgroundPhones:
    """Starts decoding ``clips`` (mono float32 16 kHz arrays) at once; ``result()`` waits for the phones."""

    def __init__(self, clips: list[np.ndarray]):
        self.clips = clips
        self.folder = tempfile.TemporaryDirectory(prefix="heygem-phones-")
        paths = []
        for i, clip in enumerate(clips):
            paths.append(os.path.join(self.folder.name, f"{i}.npy"))
            np.save(paths[-1], clip)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "inference.phones", *paths], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, cwd=os.path.dirname(os.path.dirname(__file__)))
        except OSError:
            self.proc = None

    def result(self, on_wait=None) -> list[list[tuple[str, float, float]]]:
        """The phones of each clip. ``on_wait()`` is called twice a second while the child still decodes (the
        pipeline's progress, which also raises ``Cancelled``)."""
        try:
            if self.proc is not None:
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
        return [decode_phones(clip) for clip in self.clips]

    def close(self) -> None:
        """Stops the child if it still runs (a cancelled job) and removes the clips."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.folder.cleanup()


def main(paths: list[str]) -> None:
    json.dump([decode_phones(np.load(path)) for path in paths], sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
