"""The ``warp`` backend: the template's own mouth in each frame, opened and shaped by the audio's loudness and
spectrum (``shapes``). For a template with no usable speech of its own; ``auto`` never picks it (its mouth is a
dark hole that can never show teeth), but it can be asked for by name."""
from __future__ import annotations

from ...progress import Stage
from ..base import Backend, Job, Rendered
from ..retrieval.model import shape_model
from .shapes import MouthWarper, audio_targets


class Warp(Backend):
    name = "warp"
    label = "Audio-driven warp of the template's own mouth"
    uses_phones = False

    def plan(self, job: Job, progress) -> None:
        person = shape_model(job.track)
        drive = job.drive
        self.targets = audio_targets(drive.loud, drive.centroid, drive.vad, person.closed_aperture,
                                     person.open_aperture, person.width_median, person.width_spread)

    def render(self, job: Job, frames, write, progress) -> Rendered:
        warper = MouthWarper(job.width, job.height, job.device)
        valid, smooth, raw = job.track.valid, job.track.smooth, job.track.raw
        for i, frame in enumerate(frames):
            if i % 8 == 0:
                progress(Stage.RENDER, i / job.n_out, i, job.n_out)
            b = int(job.bases[i])
            if valid[b]:
                warper.apply(frame, smooth[b], raw[b], self.targets[i])
            write(frame)
        return Rendered(debug={"targets": self.targets})
