"""Wav2Lip / SyncNet_color checkpoints: the official layouts load, wrong files fail with ModelUnavailable.

Weights are random and made here (nothing is downloaded). The expected keys and shapes are the spec's
``wav2lip_state_dict.json`` / ``syncnet_state_dict.json``, copied beside this file from ``shared/specs``.
"""
import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from inference import ModelUnavailable
from inference.backends.wav2lip.checkpoint import load_syncnet, load_wav2lip, read_state_dict
from inference.backends.wav2lip.nets import SyncNetColor, Wav2Lip

SPEC = Path(__file__).parent / "wav2lip_spec"


def spec_shapes(name):
    return {k: tuple(v) for k, v in json.loads((SPEC / f"{name}_state_dict.json").read_text()).items()}


def shared_storage_state(name, seed):
    """Random tensors with the spec's keys and shapes, all views of one buffer.

    torch.save writes a shared storage once, so a full 36 M-parameter state_dict takes ~19 MB on disk instead of
    145 MB and every test stays fast; values still differ between keys (different offsets into the buffer).
    """
    gen = torch.Generator().manual_seed(seed)
    shapes = spec_shapes(name)
    biggest = max(int(torch.Size(s).numel()) for s in shapes.values())
    buffer = torch.rand(biggest + 997, generator=gen) + 0.5
    state = {}
    for i, (key, shape) in enumerate(shapes.items()):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000 + i)
        else:
            offset = (i * 13) % 997
            state[key] = buffer[offset : offset + torch.Size(shape).numel()].view(shape)
    return state


@pytest.fixture(scope="module")
def generator_state():
    return shared_storage_state("wav2lip", 1)


def assert_same_weights(model, state):
    loaded = model.state_dict()
    assert list(loaded) == list(spec_shapes("wav2lip"))
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("name,cls,params", [("wav2lip", Wav2Lip, 36_298_035), ("syncnet", SyncNetColor, 16_435_072)])
def test_the_networks_have_exactly_the_spec_keys_and_shapes(name, cls, params):
    model = cls()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == spec_shapes(name)
    assert list(shapes) == list(spec_shapes(name))
    assert sum(p.numel() for p in model.parameters()) == params


def test_the_released_layout_with_dataparallel_prefix_and_adam_state_loads(tmp_path, generator_state):
    model = Wav2Lip()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    # Adam's state as after training (step, two moment buffers per parameter; ~436 MB in the released files),
    # its tensors expanded from one element so the file stays small.
    zero = torch.zeros(1)
    for p in model.parameters():
        opt.state[p] = {"step": torch.tensor(253_000.0), "exp_avg": zero.expand_as(p), "exp_avg_sq": zero.expand_as(p)}
    path = tmp_path / "wav2lip_gan.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in generator_state.items()},
                "optimizer": opt.state_dict(), "global_step": 253_000, "global_epoch": 190}, path)
    assert_same_weights(load_wav2lip(path), generator_state)


@pytest.mark.parametrize("layout", ["bare", "bare_prefixed", "dict_no_optimizer", "dict_prefixed_optimizer_none"])
def test_each_official_layout_loads(tmp_path, generator_state, layout):
    prefixed = {"module." + k: v for k, v in generator_state.items()}
    obj = {
        "bare": generator_state,
        "bare_prefixed": prefixed,
        "dict_no_optimizer": {"state_dict": generator_state},
        "dict_prefixed_optimizer_none": {"state_dict": prefixed, "optimizer": None, "global_step": 5,
                                         "global_epoch": 0},
    }[layout]
    path = tmp_path / f"{layout}.pth"
    torch.save(obj, path)
    model = load_wav2lip(path)
    assert_same_weights(model, generator_state)
    assert not model.training


def test_a_checkpoint_without_num_batches_tracked_loads(tmp_path, generator_state):
    old = {k: v for k, v in generator_state.items() if not k.endswith("num_batches_tracked")}
    assert len(old) == 352 - 50
    torch.save({"state_dict": old}, tmp_path / "old.pth")
    model = load_wav2lip(tmp_path / "old.pth")
    assert model.state_dict()["face_encoder_blocks.0.0.conv_block.0.weight"].equal(
        generator_state["face_encoder_blocks.0.0.conv_block.0.weight"])


def test_a_half_precision_checkpoint_loads_as_float32(tmp_path, generator_state):
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in generator_state.items()}
    torch.save(half, tmp_path / "half.pth")
    model = load_wav2lip(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_missing_key_is_named(tmp_path, generator_state):
    state = dict(generator_state)
    del state["output_block.1.weight"]
    torch.save({"state_dict": state}, tmp_path / "missing.pth")
    with pytest.raises(ModelUnavailable) as err:
        load_wav2lip(tmp_path / "missing.pth")
    assert "1 missing: output_block.1.weight" in err.value.detail
    assert "unexpected" not in err.value.detail


def test_a_misshaped_key_is_named_with_both_shapes(tmp_path, generator_state):
    state = dict(generator_state)
    state["face_decoder_blocks.1.0.conv_block.0.weight"] = torch.zeros(512, 1024, 3, 3)  # conv layout, not convT
    torch.save(state, tmp_path / "misshaped.pth")
    with pytest.raises(ModelUnavailable) as err:
        load_wav2lip(tmp_path / "misshaped.pth")
    detail = err.value.detail
    assert "1 misshaped: face_decoder_blocks.1.0.conv_block.0.weight (512, 1024, 3, 3)" in detail
    assert "(expected (1024, 512, 3, 3))" in detail


def test_another_models_checkpoint_names_missing_and_unexpected_keys(tmp_path):
    torch.save({"state_dict": shared_storage_state("syncnet", 4)}, tmp_path / "lipsync_expert.pth")
    with pytest.raises(ModelUnavailable) as err:
        load_wav2lip(tmp_path / "lipsync_expert.pth")
    detail = err.value.detail
    assert "does not match Wav2Lip" in detail
    assert "missing: face_encoder_blocks.0.0.conv_block.0.weight" in detail
    assert "unexpected: face_encoder.0.conv_block.0.weight" in detail
    assert "audio_encoder.11.conv_block.0.weight (256, 256, 3, 3) (expected (512, 256, 3, 3))" in detail


def test_syncnet_loads_its_own_checkpoint(tmp_path):
    state = shared_storage_state("syncnet", 2)
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "optimizer": None}, tmp_path / "s.pth")
    loaded = load_syncnet(tmp_path / "s.pth").state_dict()
    assert list(loaded) == list(spec_shapes("syncnet"))
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


@pytest.mark.parametrize("content", [
    b"",
    b"not a checkpoint, just text\n",
    b"<html><title>Google Drive - Virus scan warning</title></html>",  # what a failed download saves
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    b"PK\x03\x04" + b"\x00" * 64,
    "truncated",
])
def test_a_non_checkpoint_file_is_unavailable_with_a_log_only_detail(tmp_path, generator_state, content):
    path = tmp_path / "secret_name.pth"
    if content == "truncated":
        torch.save({"state_dict": generator_state}, path)
        path.write_bytes(path.read_bytes()[:100_000])
    else:
        path.write_bytes(content)
    with pytest.raises(ModelUnavailable) as err:
        load_wav2lip(path)
    assert err.value.code == "model_unavailable"
    assert "secret_name" in err.value.detail
    assert "secret_name" not in err.value.message
    assert "is not a torch checkpoint" in err.value.detail  # not "pass trusted=True": trust would not help


@pytest.mark.parametrize("obj", [[1, 2, 3], {"state_dict": None}, {"weights": "x"}, {}])
def test_a_pickle_without_a_state_dict_is_unavailable(tmp_path, obj):
    torch.save(obj, tmp_path / "odd.pth")
    with pytest.raises(ModelUnavailable, match="holds no state_dict"):
        load_wav2lip(tmp_path / "odd.pth")


def test_a_missing_file_or_no_path_is_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="not found"):
        load_wav2lip(tmp_path / "nope.pth")
    with pytest.raises(ModelUnavailable, match="no checkpoint path"):
        load_wav2lip(None)


def test_a_file_the_safe_loader_refuses_needs_trust(tmp_path):
    state = shared_storage_state("syncnet", 3)
    # Training scripts often pickle their argparse options alongside the weights.
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=1e-4)}, tmp_path / "with_args.pth")
    with pytest.raises(ModelUnavailable, match="trusted=True"):
        read_state_dict(tmp_path / "with_args.pth")
    model = load_syncnet(tmp_path / "with_args.pth", trusted=True)
    assert torch.equal(model.state_dict()["face_encoder.0.conv_block.0.weight"],
                       state["face_encoder.0.conv_block.0.weight"])


def test_a_worker_loads_the_generator_once_per_file_version(tmp_path, generator_state):
    from inference.backends.wav2lip import loaded

    path = tmp_path / "wav2lip.pth"
    torch.save({"state_dict": generator_state}, path)
    loaded.clear()
    try:
        first = loaded.get_runner(path, "cpu", max_batch=16)
        again = loaded.get_runner(str(path), "cpu", max_batch=8)
        assert again is first and again.max_batch == 8
        changed = {k: (v + 1 if v.is_floating_point() else v) for k, v in generator_state.items()}
        torch.save({"state_dict": changed}, path)
        os.utime(path, ns=(1, 1))  # a new version even if the clock did not tick between the two saves
        replaced = loaded.get_runner(path, "cpu")
        assert replaced is not first
        key = "output_block.1.bias"
        assert torch.equal(replaced.model.state_dict()[key], generator_state[key] + 1)
        with pytest.raises(ModelUnavailable, match="not readable"):
            loaded.get_runner(tmp_path / "gone.pth")
    finally:
        loaded.clear()
