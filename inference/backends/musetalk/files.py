"""The official MuseTalk 1.5 files on disk and their loaders (spec §1-§3). Nothing is downloaded.

``model_dir`` is the official ``models/`` folder::

    musetalkV15/musetalk.json + unet.pth      UNet2DConditionModel config and plain state_dict
    sd-vae/config.json + diffusion_pytorch_model.bin (or .safetensors)
    whisper/config.json + preprocessor_config.json + pytorch_model.bin (or model.safetensors)
    face-parse-bisent/79999_iter.pth          BiSeNet state_dict (resnet18-5c106cde.pth is not needed)

Every failure (a missing file, a config that is not JSON, a state_dict with missing, unexpected or misshaped keys,
a truncated or non-torch file) raises ``ModelUnavailable`` whose log-only ``detail`` names the file and what was
wrong. Networks are built on the ``meta`` device and take the file's tensors directly (``assign=True``): the real
UNet is 850 M values, and a random initialisation followed by a copy would cost seconds and twice the memory.
"""
from __future__ import annotations

import json
import os

from ...errors import ModelUnavailable
from ..wav2lip.checkpoint import check_state_dict, read_state_dict

UNET_CONFIG = ("musetalkV15", "musetalk.json")
UNET_WEIGHTS = ("musetalkV15", "unet.pth")
VAE_CONFIG = ("sd-vae", "config.json")
VAE_WEIGHTS = (("sd-vae", "diffusion_pytorch_model.bin"), ("sd-vae", "diffusion_pytorch_model.safetensors"))
WHISPER_CONFIG = ("whisper", "config.json")
WHISPER_PREPROCESSOR = ("whisper", "preprocessor_config.json")
WHISPER_WEIGHTS = (("whisper", "pytorch_model.bin"), ("whisper", "model.safetensors"))
PARSER_WEIGHTS = ("face-parse-bisent", "79999_iter.pth")
WHISPER_PREFIX = "model.encoder."
# sd-vae-ft-mse was saved by diffusers 0.4.2, before the mid-block attention was renamed (spec §1).
OLD_VAE_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _path(model_dir, parts) -> str:
    return os.path.join(os.fspath(model_dir), *parts)


def _first_existing(model_dir, options) -> str:
    for parts in options:
        path = _path(model_dir, parts)
        if os.path.isfile(path):
            return path
    return _path(model_dir, options[0])


def required_files(model_dir) -> list[str]:
    """The files ``load`` reads, in the order it reads them (weights in their preferred spelling)."""
    return [
        _path(model_dir, UNET_CONFIG), _path(model_dir, UNET_WEIGHTS),
        _path(model_dir, VAE_CONFIG), _first_existing(model_dir, VAE_WEIGHTS),
        _path(model_dir, WHISPER_CONFIG), _path(model_dir, WHISPER_PREPROCESSOR),
        _first_existing(model_dir, WHISPER_WEIGHTS),
        _path(model_dir, PARSER_WEIGHTS),
    ]


def check_files(model_dir) -> None:
    """Raise ``ModelUnavailable`` naming every missing file; cheap (no file is read)."""
    if not model_dir:
        raise ModelUnavailable("no MuseTalk model directory configured")
    if not os.path.isdir(model_dir):
        raise ModelUnavailable(f"MuseTalk model directory not found: {model_dir}")
    missing = [p for p in required_files(model_dir) if not os.path.isfile(p)]
    if missing:
        raise ModelUnavailable("MuseTalk files missing: " + ", ".join(missing))


def read_json(path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ModelUnavailable(f"{path} not readable ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelUnavailable(f"{path} is not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ModelUnavailable(f"{path} holds no JSON object")
    return data


def read_weights(path) -> dict:
    """``{key: tensor}`` of a ``.pth``/``.bin`` (safe loader only) or ``.safetensors`` file."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as exc:  # safetensors raises its own error type for every malformed header
            raise ModelUnavailable(f"{path} is not a safetensors file: {type(exc).__name__}: {exc}"[:300]) from None
    # The official files hold only tensors; never unpickle anything else from an operator's folder.
    return read_state_dict(path, trusted=False)


def _build(factory, name, path):
    """``factory()`` on the meta device; a config the class rejects is a broken file, not a bug."""
    import torch

    try:
        with torch.device("meta"):
            return factory()
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise ModelUnavailable(f"{path}: not a {name} config ({type(exc).__name__}: {str(exc)[:200]})") from None


def _assign(model, state, name, path, device):
    """Strict load of ``state`` (checked against the model's keys and shapes) as float32 on ``device``."""
    import torch

    state = check_state_dict(state, model, name, path)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if left:  # a tensor the file cannot give (none in these networks): refuse rather than run on nothing
        raise ModelUnavailable(f"{path}: {name} has tensors no file provides: {', '.join(left[:8])}")
    model.eval().requires_grad_(False)
    return model.to(torch.device(device))


def load_unet(model_dir, device="cpu"):
    """``diffusers.UNet2DConditionModel`` from ``musetalk.json`` with ``unet.pth``'s weights (strict)."""
    from diffusers import UNet2DConditionModel

    cfg_path, path = _path(model_dir, UNET_CONFIG), _path(model_dir, UNET_WEIGHTS)
    config = read_json(cfg_path)
    # from_config, not the constructor: a config saved by a newer diffusers may carry keys this one ignores.
    model = _build(lambda: UNet2DConditionModel.from_config(config), "UNet2DConditionModel", cfg_path)
    return _assign(model, read_weights(path), "the MuseTalk UNet", path, device)


def load_vae(model_dir, device="cpu"):
    """``diffusers.AutoencoderKL`` from ``sd-vae``; the old attention names of the released file are accepted."""
    from diffusers import AutoencoderKL

    cfg_path, path = _path(model_dir, VAE_CONFIG), _first_existing(model_dir, VAE_WEIGHTS)
    config = read_json(cfg_path)
    model = _build(lambda: AutoencoderKL.from_config(config), "AutoencoderKL", cfg_path)
    return _assign(model, rename_old_vae_keys(read_weights(path)), "the sd-vae AutoencoderKL", path, device)


def rename_old_vae_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        # {encoder,decoder}.mid_block.attentions.0.<old>.{weight,bias}
        if len(parts) == 6 and parts[1:4] == ["mid_block", "attentions", "0"] and parts[4] in OLD_VAE_ATTENTION:
            key = ".".join(parts[:4] + [OLD_VAE_ATTENTION[parts[4]], parts[5]])
        out[key] = value
    return out


def load_whisper(model_dir, device="cpu"):
    """``(feature_extractor, encoder)``: transformers' ``WhisperFeatureExtractor`` and ``WhisperEncoder`` read
    from ``whisper/`` (only the ``model.encoder.*`` tensors of the file are used; the decoder never runs)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    folder = _path(model_dir, ("whisper",))
    cfg_path = _path(model_dir, WHISPER_CONFIG)
    read_json(cfg_path)  # a clear error for a broken file before transformers' own
    read_json(_path(model_dir, WHISPER_PREPROCESSOR))
    try:
        config = WhisperConfig.from_pretrained(folder, local_files_only=True)
        extractor = WhisperFeatureExtractor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelUnavailable(f"{folder}: not a Whisper config ({type(exc).__name__}: {str(exc)[:200]})") from None
    config._attn_implementation = "sdpa"
    path = _first_existing(model_dir, WHISPER_WEIGHTS)
    state = {k[len(WHISPER_PREFIX):]: v for k, v in read_weights(path).items() if k.startswith(WHISPER_PREFIX)}
    encoder = _build(lambda: WhisperEncoder(config), "Whisper encoder", cfg_path)
    return extractor, _assign(encoder, state, "the Whisper encoder", path, device)


def load_parser(model_dir, device="cpu"):
    """The BiSeNet face parser from ``79999_iter.pth`` (a missing ``num_batches_tracked`` is accepted)."""
    from .bisenet import BiSeNet

    path = _path(model_dir, PARSER_WEIGHTS)
    model = _build(BiSeNet, "BiSeNet", path)
    return _assign(model, read_weights(path), "BiSeNet (19 classes)", path, device)
