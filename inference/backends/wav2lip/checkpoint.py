"""Loading Wav2Lip and SyncNet_color checkpoints from a local file, with a strict key and shape check.

Accepted layouts (spec §7): the official training dict ``{"state_dict": ..., "optimizer": ..., "global_step": ...,
"global_epoch": ...}`` (optimizer state or None), the same with ``nn.DataParallel``'s ``module.`` key prefix, or a
bare state_dict. Files are read with ``torch.load(weights_only=True)``: the official dicts hold only tensors, ints,
None and the optimizer's dict, so they load without unpickling arbitrary objects. A file the safe loader refuses
is rejected unless the caller passes ``trusted=True`` (an operator vouching for the file), because a full unpickle
runs whatever code the file carries.

Every failure raises ``ModelUnavailable``: its user-facing message is generic, and its ``detail`` (for logs only)
names the file and what was wrong, e.g. the missing, unexpected and misshaped keys.
"""
from __future__ import annotations

import os
import pickle
import zipfile

from ...errors import ModelUnavailable

PREFIX = "module."
MAX_NAMED = 8  # keys named per category in an error detail; the counts are always complete


def read_state_dict(path, trusted: bool = False) -> dict:
    """The tensors of a checkpoint file as ``{key: tensor}`` on CPU, with any ``module.`` prefix removed.

    Raises ``ModelUnavailable`` when the file is absent, is not a torch checkpoint, or holds no state_dict.
    """
    import torch

    if not path:
        raise ModelUnavailable("no checkpoint path configured")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelUnavailable(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch reports both "not a pickle at all" (a text or HTML file: "Unsupported operand") and "a pickle
        # naming classes the safe loader refuses" ("Unsupported global") this way; only the second can be trusted.
        reason = _weights_reason(exc)
        refused = "unsupported global" in reason.lower()
        if not (refused and trusted):
            why = "holds objects the safe loader refuses (pass trusted=True to unpickle it)" if refused else (
                "is not a torch checkpoint")
            raise ModelUnavailable(f"{path} {why}: {reason}") from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # any failure of a full unpickle means the file is unusable
            raise ModelUnavailable(f"{path} could not be unpickled: {_first_line(exc2)}") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, KeyError,
            TypeError, IndexError, UnicodeDecodeError) as exc:
        # Truncated archives, text files, images...: torch raises a mix of these depending on the first bytes.
        raise ModelUnavailable(f"{path} is not a torch checkpoint: {_first_line(exc)}") from None
    return _extract(obj, path)


def _weights_reason(exc) -> str:
    """The useful line of torch's long weights-only error (what the unpickler choked on)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = text.split(marker, 1)[1].strip()
        return f"UnpicklingError: {rest.splitlines()[0].strip()}"[:300]
    return _first_line(exc)


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _extract(obj, path) -> dict:
    import torch

    if isinstance(obj, dict) and "state_dict" in obj:
        state = obj["state_dict"]
    else:
        state = obj
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        kind = type(state).__name__
        raise ModelUnavailable(f"{path} holds no state_dict (found {kind})")
    out = {}
    for key, value in state.items():
        key = str(key)
        # DataParallel prefixes every key once; the official reader's str.replace removes it anywhere, which for
        # these networks (no native key contains "module.") is the same as stripping leading prefixes.
        while key.startswith(PREFIX):
            key = key[len(PREFIX):]
        out[key] = value
    return out


def check_state_dict(state: dict, model, name: str, path="") -> dict:
    """``state`` conformed to ``model.state_dict()``'s keys and shapes, ready for a strict ``load_state_dict``.

    A missing ``num_batches_tracked`` is filled with 0 (files from torch < 0.4.1 lack it and eval mode never reads
    it). Anything else missing, any unexpected key and any shape difference raises ``ModelUnavailable`` whose
    detail names them.
    """
    import torch

    expected = model.state_dict()
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("misshaped", misshaped)):
            if items:
                more = f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else ""
                parts.append(f"{len(items)} {label}: " + ", ".join(items[:MAX_NAMED]) + more)
        raise ModelUnavailable(f"{path or 'checkpoint'} does not match {name}: " + "; ".join(parts))
    return state


def _load(cls, name, path, device, trusted):
    import torch

    state = read_state_dict(path, trusted=trusted)
    model = cls()
    state = check_state_dict(state, model, name, path)
    # Cast on the way in: a half-precision fine-tune must not make the model half precision on CPU.
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(torch.device(device))


def load_wav2lip(path, device: str = "cpu", trusted: bool = False):
    """A ``nets.Wav2Lip`` in eval mode on ``device`` with the checkpoint's weights (float32)."""
    from .nets import Wav2Lip

    return _load(Wav2Lip, "Wav2Lip", path, device, trusted)


def load_syncnet(path, device: str = "cpu", trusted: bool = False):
    """A ``nets.SyncNetColor`` in eval mode on ``device`` with the checkpoint's weights (float32)."""
    from .nets import SyncNetColor

    return _load(SyncNetColor, "SyncNet_color", path, device, trusted)
