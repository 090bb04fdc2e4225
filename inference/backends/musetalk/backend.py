"""MuseTalk 1.5 behind the backend interface: the networks loaded once per worker, Whisper features per frame,
faces generated in batches and blended with the jaw mask."""
from __future__ import annotations

from ...progress import Stage
from ...runtime import gpu_memory
from ..base import Backend, Job, Rendered


def _has_gpu(config) -> bool:
    if config.device == "cpu":
        return False
    if config.device.startswith("cuda"):
        return True
    import torch

    return torch.cuda.is_available()


class MuseTalkBackend(Backend):
    name = "musetalk"
    label = "MuseTalk 1.5 (neural, 256x256 face)"
    uses_speech = False  # neither the template's speech nor the phone recogniser
    uses_phones = False
    auto_rank = 10  # before Wav2Lip: a sharper mouth, and weights released for any use
    needs_gpu = True

    @classmethod
    def unavailable(cls, config) -> str | None:
        if not config.musetalk_dir:
            return "no MuseTalk model directory is configured"
        # Asked for by name it runs anywhere (slowly on CPU); auto takes it only where it runs at speed.
        if config.backend == "auto" and not _has_gpu(config):
            return "the worker has no GPU"
        return None

    @classmethod
    def auto_reason(cls, config) -> str:
        return "MuseTalk weights are configured and the worker has a GPU"

    def load(self, progress) -> None:
        from . import loaded

        progress(Stage.PROBE, 0.5, note="Loading the lip-sync model", force=True)
        c = self.config
        # Loaded once per worker process and kept across jobs; a missing or bad file raises ModelUnavailable here.
        self.model = loaded.get_model(c.musetalk_dir, self.device, c.musetalk_fp16, c.musetalk_batch)

    def plan(self, job: Job, progress) -> None:
        progress(Stage.SELECT, 0.5, note="Reading the audio with Whisper", force=True)
        # Whisper states for the whole audio (7.7 KB per 20 ms); each frame's (50, 384) block is cut at render.
        self.feats = self.model.frame_features(job.samples, job.fps, job.n_out)

    def render(self, job: Job, frames, write, progress) -> Rendered:
        from .render import MuseTalkRenderer, render_stream

        renderer = MuseTalkRenderer(self.model, job.width, job.height, raw=job.track.raw)
        n = job.n_out
        try:
            # progress() raises Cancelled, so a cancel lands between batches and the writer drops the file.
            changed = render_stream(renderer, frames, job.bases, job.track.smooth, job.track.valid, self.feats,
                                    write, self.config.musetalk_batch,
                                    on_batch=lambda d: progress(Stage.RENDER, d / n, d, n))
        finally:
            renderer.close()
        return Rendered(kept_own_mouth=n - changed, details={"gpu_memory": gpu_memory(self.model.device) or None})
