"""MuseTalk on a GPU that runs out of memory: the batch is halved and retried down to one sample, the faces are
the same as an unsplit run's (to a level), and a single sample that still does not fit fails with
``gpu_out_of_memory``.

A full GPU is simulated by making the networks raise torch's ``OutOfMemoryError`` above a batch size (torch is
outside the product; the halving and the error are the product's).
"""
import numpy as np
import pytest
import torch

import inference
from inference.backends.musetalk import MuseTalk


@pytest.fixture(scope="module")
def model(musetalk_models):
    return MuseTalk.load(musetalk_models)


@pytest.fixture(scope="module")
def inputs(mk):
    crops = np.stack(mk.read_rgb(mk.media("woman_glasses_524sq_25fps.mp4"), 5, 256))
    feats = torch.from_numpy(np.random.default_rng(3).normal(0, 1, (5, 50, 384)).astype(np.float32))
    return crops, feats


def full_gpu_above(limit, calls, fn):
    """``fn`` failing like a full GPU when its first argument holds more than ``limit`` samples."""

    def call(x, *args, **kwargs):
        calls.append(len(x))
        if len(x) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return fn(x, *args, **kwargs)

    return call


def test_a_batch_that_runs_out_of_memory_is_halved_and_gives_the_unsplit_faces(model, inputs, monkeypatch):
    crops, feats = inputs
    model.batch_size = 8
    unsplit = model.generate(crops, feats)
    calls = {"encode": [], "unet": [], "decode": []}
    monkeypatch.setattr(model.vae, "encode", full_gpu_above(2, calls["encode"], model.vae.encode))
    monkeypatch.setattr(model.vae, "decode", full_gpu_above(2, calls["decode"], model.vae.decode))
    monkeypatch.setattr(model, "unet", full_gpu_above(2, calls["unet"], model.unet))
    model.batch_size = 8
    split = model.generate(crops, feats)
    # The same faces in the same order. Not bit-exact: CPU kernels sum in an order that depends on the batch size,
    # so a level may round the other way (the spec's tolerance against the official code is 2 levels).
    diff = np.abs(split.astype(int) - unsplit.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05
    # 5 -> 4 -> 2 fits: 2 + 2 + 1, twice per slice for the two encodings (masked and whole).
    assert calls["encode"] == [5, 4, 2, 2, 2, 2, 1, 1]
    assert calls["unet"] == [2, 2, 1]  # the smaller size is kept for the rest of the job
    assert model.batch_size == 2


def test_a_single_sample_that_does_not_fit_fails_with_a_clear_code(model, inputs, monkeypatch):
    crops, feats = inputs
    monkeypatch.setattr(model, "unet", full_gpu_above(0, [], model.unet))
    model.batch_size = 4
    with pytest.raises(inference.GpuOutOfMemory) as caught:
        model.decode_step(model.latents(crops[:3]), feats[:3])
    assert caught.value.code == "gpu_out_of_memory" and "memory" in caught.value.message
    assert "simulated" not in caught.value.message  # torch's text is for the log only
