"""``MuseTalk``: the v1.5 networks loaded once, and the four calls of spec §0.

    m = MuseTalk.load(model_dir, device="cpu")
    feats = m.audio_features(samples, fps=25)      # float32 (T, 50, 384), positional encoding included
    faces = m.generate(crops, feats[rows])         # uint8 (N, 256, 256, 3) RGB -> uint8 (N, 256, 256, 3) RGB
    out = m.blend(frame, face, bbox)               # uint8 (H, W, 3) RGB

``generate`` is ``latents`` (two VAE encodings per crop: lower half blacked out, and whole) followed by
``decode_step`` (one UNet call at timestep 0 and a VAE decode); the engine calls the two halves itself so that a
template frame's latents are computed once however many output frames use it. Batches are cut to ``batch_size``
samples, halved while CUDA runs out of memory; each sample is independent of the others in its batch, so the
split does not change the result.
"""
from __future__ import annotations

import numpy as np

from ...runtime import in_batches
from . import audio as _audio
from . import blend as _blend

SIZE = 256
DEFAULT_SCALING = 0.18215  # sd-vae-ft-mse's config.json has no scaling_factor; diffusers' default applies


class MuseTalk:
    """The UNet, VAE, Whisper encoder and face parser on one device. Keep one per worker process.

    ``fp16`` runs the UNet and VAE under CUDA autocast (ignored on CPU, where half precision is slower);
    ``batch_size`` caps the samples per UNet/VAE call; a call that runs out of GPU memory halves it for the rest
    of the job (``runtime.in_batches``; ``loaded.get_model`` sets it again for the next job).
    """

    def __init__(self, unet, vae, extractor, encoder, parser, device="cpu", fp16=False, batch_size=8):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.unet, self.vae, self.extractor, self.encoder, self.parser = unet, vae, extractor, encoder, parser
        self.fp16 = bool(fp16) and self.device.type == "cuda"
        self.batch_size = max(1, int(batch_size))
        self.scaling = float(getattr(vae.config, "scaling_factor", None) or DEFAULT_SCALING)
        self.pe = _audio.positional_encoding()

    @classmethod
    def load(cls, model_dir, device="cpu", fp16=False, batch_size=8) -> "MuseTalk":
        """Read the official ``models/`` folder. Raises ``ModelUnavailable`` (log-only detail) for any missing or
        unusable file; the cheap existence check runs first, so a missing file costs no loading time."""
        from . import files

        files.check_files(model_dir)
        unet = files.load_unet(model_dir, device)
        vae = files.load_vae(model_dir, device)
        extractor, encoder = files.load_whisper(model_dir, device)
        parser = files.load_parser(model_dir, device)
        return cls(unet, vae, extractor, encoder, parser, device, fp16, batch_size)

    # -- audio ---------------------------------------------------------------------------------------------
    def audio_features(self, samples, fps: float = 25, n_frames: int | None = None, exact_fps: bool = False):
        """Per-frame conditioning, float32 tensor (T, 50, 384) on CPU, positional encoding added.

        ``samples``: float32 mono 16 kHz in [-1, 1]. As the official script, frames are chunked at ``int(fps)``
        and T = floor(n / 16000 * int(fps)), unless ``exact_fps`` (the engine: frame i at i / fps, so a 29.97 fps
        video stays in sync) or ``n_frames`` (T as given) say otherwise.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        states = _audio.hidden_states(samples, self.extractor, self.encoder, self.device)
        rate = float(fps) if exact_fps else _audio.official_fps(fps)
        blocks = _audio.frame_windows(states, len(samples), rate, n_frames)
        return blocks + self.pe[None, : blocks.shape[1]]

    def frame_features(self, samples, fps: float, n_frames: int):
        """The engine's conditioning: an ``audio.FrameFeatures`` for ``n_frames`` frames at the real ``fps``
        (frame i at i / fps), built block by block as rendering proceeds."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        states = _audio.hidden_states(samples, self.extractor, self.encoder, self.device)
        return _audio.FrameFeatures(states, len(samples), fps, n_frames, self.pe)

    # -- faces ---------------------------------------------------------------------------------------------
    def _images(self, crops: np.ndarray, half_mask: bool):
        """VAE input: uint8 (N, 256, 256, 3) RGB -> float32 (N, 3, 256, 256) in [-1, 1]; the lower half black
        (exactly -1) when ``half_mask``. /255 in float64 then float32, as the official preprocessing."""
        torch = self.torch
        x = torch.from_numpy((np.asarray(crops) / 255.0).astype(np.float32)).permute(0, 3, 1, 2)
        if half_mask:
            x = x.clone()
            x[:, :, SIZE // 2 :, :] = 0
        return x.sub(0.5).div(0.5)

    def _autocast(self):
        return self.torch.autocast("cuda", dtype=self.torch.float16, enabled=self.fp16)

    def latents(self, crops: np.ndarray):
        """UNet input for face crops: uint8 (N, 256, 256, 3) RGB -> float32 tensor (N, 8, 32, 32) on CPU:
        channels 0-3 the masked crop's latent, 4-7 the whole crop's (posterior means x 0.18215)."""
        torch = self.torch
        crops = _check_crops(crops)
        out = torch.zeros((len(crops), 8, SIZE // 8, SIZE // 8))

        def step(i, j):
            pair = []
            for half in (True, False):
                x = self._images(crops[i:j], half).to(self.device)
                with torch.inference_mode(), self._autocast():
                    mean = self.vae.encode(x).latent_dist.mean
                pair.append(mean.float() * self.scaling)
            out[i:j] = torch.cat(pair, dim=1).cpu()

        self.batch_size = in_batches(len(crops), self.batch_size, step)
        return out

    def decode_step(self, latents, feats) -> np.ndarray:
        """Faces for UNet inputs ``latents`` (N, 8, 32, 32) and conditioning ``feats`` (N, 50, 384) (as
        ``audio_features`` returns them): uint8 (N, 256, 256, 3) RGB, rounded half to even."""
        torch = self.torch
        latents = torch.as_tensor(latents, dtype=torch.float32)
        feats = torch.as_tensor(np.asarray(feats) if not torch.is_tensor(feats) else feats, dtype=torch.float32)
        if len(latents) != len(feats):
            raise ValueError(f"{len(latents)} latents but {len(feats)} feature blocks")
        out = np.empty((len(latents), SIZE, SIZE, 3), np.uint8)
        t = torch.zeros(1, dtype=torch.long, device=self.device)

        def step(i, j):
            lat, cond = latents[i:j].to(self.device), feats[i:j].to(self.device)
            with torch.inference_mode(), self._autocast():
                pred = self.unet(lat, t, encoder_hidden_states=cond).sample
                image = self.vae.decode(pred.float() * (1 / self.scaling)).sample
            image = (image.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            out[i:j] = (image * 255).round().astype(np.uint8)

        self.batch_size = in_batches(len(latents), self.batch_size, step)
        return out

    def generate(self, crops: np.ndarray, feats) -> np.ndarray:
        """The whole v1.5 step for each crop: uint8 (N, 256, 256, 3) RGB and feats (N, 50, 384) -> uint8
        (N, 256, 256, 3) RGB."""
        return self.decode_step(self.latents(crops), feats)

    # -- blending ------------------------------------------------------------------------------------------
    def masks(self, frames, bboxes):
        """The feathered jaw mask of each (frame, bbox): ``(box, uint8 (2s, 2s))`` per pair, from batched parser
        calls. Depends only on the original frame, so it can be reused for every face pasted on it."""
        bboxes = [tuple(int(v) for v in b) for b in bboxes]
        boxes = [_blend.crop_box(b) for b in bboxes]
        large = [_blend.crop_with_black(np.asarray(f), box) for f, box in zip(frames, boxes)]
        return list(zip(boxes, self.masks_of_canvases(large, bboxes, boxes)))

    def masks_of_canvases(self, larges, bboxes, boxes) -> list:
        """Feathered jaw masks uint8 (2s, 2s) for crop-box canvases ``larges`` (uint8 (2s, 2s, 3) RGB, black
        outside the frame) with their ``bboxes`` and crop ``boxes``."""
        classes = [None] * len(larges)

        def step(i, j):
            classes[i:j] = list(_blend.parse(self.parser, larges[i:j], self.device))

        self.batch_size = in_batches(len(larges), self.batch_size, step)
        return [_blend.feather_mask(_blend.jaw_region(c), b, box) for c, b, box in zip(classes, bboxes, boxes)]

    def blend(self, frame: np.ndarray, face: np.ndarray, bbox, mask=None) -> np.ndarray:
        """``frame`` uint8 (H, W, 3) RGB with ``face`` uint8 (256, 256, 3) RGB resized into ``bbox`` (x1, y1, x2,
        y2) and mixed in through the jaw mask (``masks`` gives it; computed here when not given). Returns a new
        uint8 (H, W, 3) RGB; pixels where the mask is 0 are unchanged."""
        frame = np.asarray(frame)
        bbox = tuple(int(v) for v in bbox)
        box, weights = mask if mask is not None else self.masks([frame], [bbox])[0]
        large = _blend.paste_face(_blend.crop_with_black(frame, box), face, bbox, box)
        return _blend.composite(frame, large, weights, box)


def _check_crops(crops) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1:] != (SIZE, SIZE, 3) or crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 (N, 256, 256, 3), got {crops.dtype} {crops.shape}")
    return crops
