"""The default CPU backend: real mouths of the template, chosen per frame to follow a target shape predicted
from the driving speech, pasted onto each base frame (``model`` holds the prediction and the selection)."""
from __future__ import annotations

import numpy as np

from ...progress import Stage
from ..base import Backend, Job, Rendered
from . import model


NEIGHBOURS = 4  # template frames either side of the base frame tried when the chosen mouth does not line up


def _neighbours(track, b: int, target: float) -> list[int]:
    """Template frames to paste from when the chosen one does not line up with base frame ``b`` (a turning
    head): the base's neighbours in time share its pose, the one opened most like ``target`` first, and the
    base itself last, which always lines up. Kept as it was, the base's own mouth was often shut mid-vowel (a
    jump each way: the largest single cause of lip jumps on the shared portrait clip); reshaped from a closed
    mouth to a wide vowel it shows a dark gap with no teeth, where a neighbour already open shows its own."""
    near = [j for j in range(max(b - NEIGHBOURS, 0), min(b + NEIGHBOURS + 1, len(track)))
            if j != b and track.valid[j]]
    near.sort(key=lambda j: abs(float(np.nan_to_num(track.aperture[j])) - target))
    return near + [b]


class Retrieval(Backend):
    name = "retrieval"
    label = "Template mouths (CPU)"
    auto_rank = 90  # the fallback: it runs everywhere and needs no model files

    @classmethod
    def auto_reason(cls, config) -> str:
        return "the CPU engine (no neural model is configured)"

    def load(self, progress) -> None:
        self.features = None
        if self.config.wav2vec2_model:
            from ... import wav2vec2

            progress(Stage.PROBE, 0.5, note="Loading the audio feature model", force=True)
            # Loaded before any media work: a bad directory fails the job in seconds.
            self.features = wav2vec2.get_features(self.config.wav2vec2_model, self.device)

    def plan(self, job: Job, progress) -> None:
        drive, tpl, track = job.drive, job.template, job.track
        if self.features is not None and tpl is not None:
            from ...wav2vec2 import per_frame

            progress(Stage.SELECT, 0.55, note="Comparing voices with the audio feature model", force=True)
            drive.acoustic = per_frame(self.features, job.samples, job.n_out, job.fps)
            tpl.acoustic = per_frame(self.features, job.template_samples, len(track), job.fps)
        self.plan_ = model.plan(job, progress)

    def render(self, job: Job, frames, write, progress) -> Rendered:
        from .render import MouthRenderer, crossfades

        track = job.track
        renderer = MouthRenderer(job.width, job.height, job.device, job.mouths, track.raw, track.valid)
        sources, targets = self.plan_["sources"], self.plan_["targets"]
        other, weight = crossfades(sources, shut=targets[:, 0] <= self.plan_["person"].closed_aperture + 1e-6)
        kept = np.zeros(job.n_out, bool)  # frames that keep the base frame's own mouth (no face found)
        own = np.zeros(job.n_out, bool)  # frames whose source did not line up: the base's own mouth, reshaped
        for i, frame in enumerate(frames):
            if i % 8 == 0:
                progress(Stage.RENDER, i / job.n_out, i, job.n_out)
            b = int(job.bases[i])
            if track.valid[b]:
                blend = [(int(sources[i]), 1.0 - float(weight[i]))]
                if other[i] >= 0 and other[i] < len(track):
                    blend.append((int(other[i]), float(weight[i])))
                # Placed with the base frame's own landmarks: smoothed ones lag a turning head.
                if not renderer.apply(frame, track.raw[b], float(targets[i, 0]), blend, base=b):
                    own[i] = True
                    for j in _neighbours(track, b, float(targets[i, 0])):
                        if renderer.apply(frame, track.raw[b], float(targets[i, 0]), [(j, 1.0)], base=b):
                            break
            else:
                kept[i] = True
            write(frame)
        return Rendered(int((kept | own).sum()), {"acoustic_features": "wav2vec2" if self.features is not None else "log-mel"},
                        {**{k: self.plan_.get(k) for k in ("sources", "targets", "voice_match", "familiarity")},
                         "kept": kept, "own": own})
