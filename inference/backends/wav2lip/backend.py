"""Wav2Lip behind the backend interface: the generator loaded once per worker, one mel window per frame."""
from __future__ import annotations

from ...progress import Stage
from ...runtime import gpu_memory
from ..base import Backend, Job, Rendered


class Wav2LipBackend(Backend):
    name = "wav2lip"
    label = "Wav2Lip (neural, 96x96 mouth)"
    uses_speech = False  # neither the template's speech nor the phone recogniser
    uses_phones = False
    auto_rank = 20

    @classmethod
    def unavailable(cls, config) -> str | None:
        return None if config.wav2lip_checkpoint else "no wav2lip checkpoint is configured"

    @classmethod
    def auto_reason(cls, config) -> str:
        return "a wav2lip checkpoint is configured"

    def load(self, progress) -> None:
        from . import loaded

        progress(Stage.PROBE, 0.5, note="Loading the lip-sync model", force=True)
        c = self.config
        # Loaded once per worker process and kept across jobs; a bad file raises ModelUnavailable here.
        self.runner = loaded.get_runner(c.wav2lip_checkpoint, self.device, c.wav2lip_fp16, c.batch_size,
                                        trusted=c.wav2lip_trusted)

    def plan(self, job: Job, progress) -> None:
        from . import audio

        # One (80, 16) mel window per output frame, from the 16 kHz mono samples (the spec's front end). A "cut"
        # output shorter than the audio takes the first n_out windows.
        self.mels = audio.mel_windows(audio.melspectrogram(job.samples), job.fps, job.n_out)

    def render(self, job: Job, frames, write, progress) -> Rendered:
        from ...composite import Compositor
        from .generator import Wav2LipRenderer, render_stream

        compositor = Compositor(job.width, job.height, job.device)
        renderer = Wav2LipRenderer(self.runner, job.width, job.height, self.config.wav2lip_pads, compositor)
        n = job.n_out
        # progress() raises Cancelled, so a cancel lands between batches and the writer drops the file.
        render_stream(renderer, frames, job.bases, job.track.smooth, job.track.valid, self.mels, write,
                      self.config.batch_size, on_batch=lambda d: progress(Stage.RENDER, d / n, d, n))
        return Rendered(details={"gpu_memory": gpu_memory(self.runner.device) or None})
