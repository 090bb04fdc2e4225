"""Generated MuseTalk files in the official layout, for tests, benchmarks and checking an install's wiring.

The weights are derived from each key's name (a CRC32 seed), so two runs write identical files; they are not a
trained model and make noise faces. Weights are uniform with variance 1/fan_in, norm scales near 1, BatchNorm
statistics near (0, 1), and the VAE's log-variance pinned at -30 (a posterior std of 3e-7, as the spec's check).

``reduced=True`` (the default) writes the spec's reduced UNet (widths 32/64/128/128, 8 groups; same keys) and a
VAE of widths 16/16/32/32; ``reduced=False`` the real configs, whose 850 M UNet values are written as views of one
shared buffer (torch.save stores a shared storage once: a 118 MB file instead of 3.4 GB).
"""
from __future__ import annotations

import json
import os
import zlib

REAL_UNET = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0.dev0", "act_fn": "silu",
    "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False,
    "cross_attention_dim": 384,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 8, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
REDUCED_UNET = dict(REAL_UNET, block_out_channels=[32, 64, 128, 128], norm_num_groups=8)
REAL_VAE = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.4.2", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "norm_num_groups": 32, "out_channels": 3, "sample_size": 256, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
REDUCED_VAE = dict(REAL_VAE, block_out_channels=[16, 16, 32, 32], norm_num_groups=8)
WHISPER_TINY = {
    "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"], "d_model": 384,
    "encoder_layers": 4, "encoder_attention_heads": 6, "encoder_ffn_dim": 1536, "decoder_layers": 4,
    "decoder_attention_heads": 6, "decoder_ffn_dim": 1536, "num_mel_bins": 80, "max_source_positions": 1500,
    "max_target_positions": 448, "vocab_size": 51865, "activation_function": "gelu", "scale_embedding": False,
    "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "pad_token_id": 50257,
    "bos_token_id": 50257, "eos_token_id": 50257, "decoder_start_token_id": 50258,
}
WHISPER_PREPROCESSOR = {
    "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80, "sampling_rate": 16000,
    "hop_length": 160, "n_fft": 400, "chunk_length": 30, "n_samples": 480000, "nb_max_frames": 3000,
    "padding_value": 0.0, "padding_side": "right", "return_attention_mask": False,
}
VAE_OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def _seeded(key: str, salt: int = 0):
    import torch

    return torch.Generator().manual_seed(zlib.crc32(key.encode()) + salt)


def _value(key: str, shape, salt: int = 0):
    """A deterministic tensor for one key."""
    import torch

    gen = _seeded(key, salt)
    u = torch.rand(shape, generator=gen) * 2 - 1
    name = key.rsplit(".", 1)[-1]
    if name == "num_batches_tracked":
        return torch.tensor(1000, dtype=torch.long)
    if name == "running_var":
        return 1 + 0.1 * u
    if name in ("running_mean", "bias"):
        return 0.1 * u
    if len(shape) == 1:  # norm scales
        return 1 + 0.1 * u
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    return u * (3.0 / fan_in) ** 0.5


def generated_state(model, salt: int = 0) -> dict:
    """``{key: tensor}`` for every key of ``model.state_dict()`` (model may live on the meta device)."""
    return {k: _value(k, tuple(v.shape), salt) for k, v in model.state_dict().items()}


def shared_state(model, salt: int = 0) -> dict:
    """Like ``generated_state`` but every tensor is a view of one of two shared buffers (weights, and norm
    scales), so a huge model's file stays small; values differ between keys by their offsets."""
    import torch

    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    biggest = max(int(torch.Size(s).numel()) for s in shapes.values())
    gen = _seeded("shared", salt)
    big_fan_in = max(int(torch.Size(s[1:]).numel()) for s in shapes.values() if len(s) > 1)
    weights = (torch.rand(biggest + 997, generator=gen) * 2 - 1) * (3.0 / big_fan_in) ** 0.5
    longest = max(int(torch.Size(s).numel()) for s in shapes.values() if len(s) <= 1)
    scales = 1 + 0.1 * (torch.rand(longest + 997, generator=gen) * 2 - 1)
    out = {}
    for i, (key, shape) in enumerate(shapes.items()):
        n = int(torch.Size(shape).numel())
        offset = (i * 13) % 997
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1000, dtype=torch.long)
        elif len(shape) <= 1 and not key.endswith("bias"):
            out[key] = scales[offset : offset + n].view(shape)
        else:
            out[key] = weights[offset : offset + n].view(shape)
    return out


def _meta(factory):
    import torch

    with torch.device("meta"):
        return factory()


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def unet_state(config: dict, shared: bool = False, salt: int = 0) -> dict:
    from diffusers import UNet2DConditionModel

    model = _meta(lambda: UNet2DConditionModel(**{k: v for k, v in config.items() if not k.startswith("_")}))
    return shared_state(model, salt) if shared else generated_state(model, salt)


def vae_state(config: dict, salt: int = 0, old_names: bool = True) -> dict:
    """The VAE's tensors with the released file's old attention names (``old_names``) and the log-variance
    half of ``quant_conv`` pinned so the posterior is practically its mean."""
    from diffusers import AutoencoderKL

    model = _meta(lambda: AutoencoderKL(**{k: v for k, v in config.items() if not k.startswith("_")}))
    state = generated_state(model, salt)
    c = config["latent_channels"]
    state["quant_conv.weight"][c:] = 0
    state["quant_conv.bias"][c:] = -30.0
    if not old_names:
        return state
    out = {}
    for key, value in state.items():
        for new, old in VAE_OLD_NAMES.items():
            marker = f"mid_block.attentions.0.{new}."
            if marker in key:
                key = key.replace(marker, f"mid_block.attentions.0.{old}.")
        out[key] = value
    return out


def whisper_state(salt: int = 0) -> dict:
    """A ``WhisperForConditionalGeneration``-style file: the encoder under ``model.encoder.`` plus a token
    embedding of the decoder (never used; present so the loader has to skip it)."""
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(**{k: v for k, v in WHISPER_TINY.items() if k != "architectures"})
    encoder = _meta(lambda: WhisperEncoder(config))
    state = {"model.encoder." + k: v for k, v in generated_state(encoder, salt).items()}
    state["model.decoder.embed_tokens.weight"] = torch.zeros(8, 384)  # cut short: only its name matters here
    return state


def parser_state(salt: int = 0) -> dict:
    """BiSeNet tensors whose main head favours skin (class 1) and the lips (12, 13) where features are strong,
    so the jaw mask of a generated parser covers part of a face instead of nothing."""
    from .bisenet import BiSeNet

    state = generated_state(_meta(BiSeNet), salt)
    head = state["conv_out.conv_out.weight"]
    head[1] = head[1].abs() + 0.02
    head[12] = head[12].abs()
    head[13] = head[13].abs()
    return state


def write_models(model_dir, reduced: bool = True, salt: int = 0, unet_config: dict | None = None,
                 vae_config: dict | None = None, vae_state_override: dict | None = None) -> str:
    """Write the official layout under ``model_dir``; returns it. ``unet_config``/``vae_config`` replace the
    configs chosen by ``reduced``; ``vae_state_override`` is written instead of the generated VAE."""
    import torch

    unet_config = unet_config or (REDUCED_UNET if reduced else REAL_UNET)
    vae_config = vae_config or (REDUCED_VAE if reduced else REAL_VAE)
    root = os.fspath(model_dir)
    _write_json(os.path.join(root, "musetalkV15", "musetalk.json"), unet_config)
    big = unet_config["block_out_channels"][0] >= 320
    torch.save(unet_state(unet_config, shared=big, salt=salt), os.path.join(root, "musetalkV15", "unet.pth"))
    _write_json(os.path.join(root, "sd-vae", "config.json"), vae_config)
    torch.save(vae_state_override if vae_state_override is not None else vae_state(vae_config, salt),
               os.path.join(root, "sd-vae", "diffusion_pytorch_model.bin"))
    _write_json(os.path.join(root, "whisper", "config.json"), WHISPER_TINY)
    _write_json(os.path.join(root, "whisper", "preprocessor_config.json"), WHISPER_PREPROCESSOR)
    torch.save(whisper_state(salt), os.path.join(root, "whisper", "pytorch_model.bin"))
    os.makedirs(os.path.join(root, "face-parse-bisent"), exist_ok=True)
    torch.save(parser_state(salt), os.path.join(root, "face-parse-bisent", "79999_iter.pth"))
    return root
