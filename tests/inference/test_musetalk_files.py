"""MuseTalk's files: the official layout and key schemes load strictly; missing, corrupt or foreign files fail
with ModelUnavailable before anything runs.

Weights are generated here (``synthetic``); the expected keys and shapes are the spec's JSONs, copied beside
this file from ``shared/specs``.
"""
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from inference import ModelUnavailable
from inference.backends.musetalk import MuseTalk, files, loaded, synthetic

SPEC = Path(__file__).parent / "musetalk_spec"


def spec_shapes(name):
    return {k: tuple(v) for k, v in json.loads((SPEC / f"musetalk_{name}_state_dict.json").read_text()).items()}


def shapes(model, prefix=""):
    return {prefix + k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.fixture
def models(tmp_path, musetalk_models):
    """A private copy of the session's layout, free to break."""
    return shutil.copytree(musetalk_models, tmp_path / "models")


def test_the_real_unet_config_has_exactly_the_spec_keys_and_loads_from_a_file(tmp_path, musetalk_models):
    root = shutil.copytree(musetalk_models, tmp_path / "models")
    (Path(root) / "musetalkV15" / "musetalk.json").write_text(json.dumps(synthetic.REAL_UNET))
    state = synthetic.unet_state(synthetic.REAL_UNET, shared=True)
    torch.save(state, Path(root) / "musetalkV15" / "unet.pth")
    assert os.path.getsize(Path(root) / "musetalkV15" / "unet.pth") < 200 * 2**20  # one shared buffer
    unet = files.load_unet(root)
    assert shapes(unet) == spec_shapes("unet")
    assert sum(p.numel() for p in unet.parameters()) == 849_947_844
    for key in ("conv_in.weight", "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.weight"):
        assert torch.equal(unet.state_dict()[key], state[key])
    # 8 heads of 40..160 channels: attention_head_dim 8 is the head count (spec §2.1).
    assert unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.heads == 8
    with torch.inference_mode():  # a small latent keeps the real network's forward pass to a second or two
        out = unet(torch.zeros(1, 8, 8, 8), torch.zeros(1, dtype=torch.long),
                   encoder_hidden_states=torch.zeros(1, 50, 384)).sample
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()


def test_the_real_vae_whisper_and_parser_key_schemes_are_the_specs():
    from diffusers import AutoencoderKL
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from inference.backends.musetalk.bisenet import BiSeNet

    with torch.device("meta"):
        vae = AutoencoderKL(**{k: v for k, v in synthetic.REAL_VAE.items() if not k.startswith("_")})
        encoder = WhisperEncoder(WhisperConfig(**{k: v for k, v in synthetic.WHISPER_TINY.items()
                                                  if k != "architectures"}))
        parser = BiSeNet()
    renamed = {files.rename_old_vae_keys({k: None}).popitem()[0]: v for k, v in spec_shapes("vae").items()}
    assert shapes(vae) == renamed
    assert shapes(encoder, "model.encoder.") == spec_shapes("whisper_encoder")
    assert shapes(parser) == spec_shapes("bisenet")


def test_the_generated_layout_loads_with_the_files_weights(musetalk_models):
    m = MuseTalk.load(musetalk_models)
    assert sum(p.numel() for p in m.unet.parameters()) == 9_405_156  # the spec's reduced config
    stored = torch.load(Path(musetalk_models) / "sd-vae" / "diffusion_pytorch_model.bin", weights_only=True)
    assert "encoder.mid_block.attentions.0.query.weight" in stored  # the released file's old names...
    assert torch.equal(m.vae.state_dict()["encoder.mid_block.attentions.0.to_q.weight"],  # ...land here
                       stored["encoder.mid_block.attentions.0.query.weight"])
    whisper = torch.load(Path(musetalk_models) / "whisper" / "pytorch_model.bin", weights_only=True)
    assert torch.equal(m.encoder.embed_positions.weight, whisper["model.encoder.embed_positions.weight"])
    assert not any(p.requires_grad for p in m.unet.parameters()) and not m.parser.training
    assert m.scaling == pytest.approx(0.18215)


def test_new_vae_names_and_old_parser_files_without_batch_counters_load(models):
    vae_path = Path(models) / "sd-vae" / "diffusion_pytorch_model.bin"
    state = torch.load(vae_path, weights_only=True)
    torch.save(files.rename_old_vae_keys(state), vae_path)
    parser_path = Path(models) / "face-parse-bisent" / "79999_iter.pth"
    old = {k: v for k, v in torch.load(parser_path, weights_only=True).items()
           if not k.endswith("num_batches_tracked")}
    torch.save(old, parser_path)
    m = MuseTalk.load(models)
    assert torch.equal(m.parser.state_dict()["cp.resnet.conv1.weight"], old["cp.resnet.conv1.weight"])


@pytest.mark.parametrize("content", [
    b"",
    b"<html><title>Hugging Face: 404</title></html>",  # what a failed download saves
    b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3400000000\n",  # an LFS pointer
    "truncated",
])
def test_a_corrupt_unet_file_is_model_unavailable(models, content):
    path = Path(models) / "musetalkV15" / "unet.pth"
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:200_000])
    else:
        path.write_bytes(content)
    with pytest.raises(ModelUnavailable) as err:
        MuseTalk.load(models)
    assert err.value.code == "model_unavailable"
    assert "unet.pth" in err.value.detail and "unet.pth" not in err.value.message


def test_a_unet_of_another_width_names_its_misshaped_keys(models):
    config = dict(synthetic.REDUCED_UNET, block_out_channels=[64, 64, 128, 128])
    torch.save(synthetic.unet_state(config), Path(models) / "musetalkV15" / "unet.pth")
    shapes_named = r"misshaped: conv_in.weight \(64, 8, 3, 3\) \(expected \(32, 8, 3, 3\)\)"
    with pytest.raises(ModelUnavailable, match=shapes_named):
        MuseTalk.load(models)


def test_a_config_that_is_not_json_or_not_a_unet_is_unavailable(models):
    cfg = Path(models) / "musetalkV15" / "musetalk.json"
    cfg.write_text("{not json")
    with pytest.raises(ModelUnavailable, match="is not JSON"):
        MuseTalk.load(models)
    cfg.write_text(json.dumps(dict(synthetic.REDUCED_UNET, block_out_channels=[32, 64])))
    with pytest.raises(ModelUnavailable, match="not a UNet2DConditionModel config"):
        MuseTalk.load(models)


def test_missing_files_are_all_named_before_anything_is_read(models, monkeypatch):
    os.remove(Path(models) / "whisper" / "pytorch_model.bin")
    os.remove(Path(models) / "face-parse-bisent" / "79999_iter.pth")
    monkeypatch.setattr(files, "load_unet", lambda *a: pytest.fail("read a file before checking the others"))
    with pytest.raises(ModelUnavailable) as err:
        MuseTalk.load(models)
    assert "pytorch_model.bin" in err.value.detail and "79999_iter.pth" in err.value.detail
    with pytest.raises(ModelUnavailable, match="no MuseTalk model directory"):
        MuseTalk.load("")
    with pytest.raises(ModelUnavailable, match="directory not found"):
        MuseTalk.load(Path(models) / "nope")


def test_safetensors_weights_are_accepted_where_the_hub_repos_offer_them(models):
    from safetensors.torch import save_file

    whisper = Path(models) / "whisper"
    state = torch.load(whisper / "pytorch_model.bin", weights_only=True)
    save_file({k: v.contiguous() for k, v in state.items()}, whisper / "model.safetensors")
    os.remove(whisper / "pytorch_model.bin")
    m = MuseTalk.load(models)
    assert torch.equal(m.encoder.conv1.weight, state["model.encoder.conv1.weight"])


def test_a_worker_loads_the_model_once_per_file_version(models):
    loaded.clear()
    try:
        first = loaded.get_model(models, "cpu", batch_size=4)
        again = loaded.get_model(str(models), "cpu", batch_size=2)
        assert again is first and again.batch_size == 2
        path = Path(models) / "face-parse-bisent" / "79999_iter.pth"
        state = torch.load(path, weights_only=True)
        state["conv_out.conv_out.weight"] = state["conv_out.conv_out.weight"] + 1
        torch.save(state, path)
        os.utime(path, ns=(1, 1))  # a new version even if the clock did not tick between the two saves
        replaced = loaded.get_model(models, "cpu")
        assert replaced is not first
        assert torch.equal(replaced.parser.conv_out.conv_out.weight, state["conv_out.conv_out.weight"])
        os.remove(path)
        with pytest.raises(ModelUnavailable, match="missing"):
            loaded.get_model(models, "cpu")
    finally:
        loaded.clear()


def test_a_config_with_keys_this_diffusers_does_not_know_still_loads(models):
    cfg = Path(models) / "musetalkV15" / "musetalk.json"
    cfg.write_text(json.dumps(dict(synthetic.REDUCED_UNET, a_future_option=True, _diffusers_version="9.0.0")))
    assert list(MuseTalk.load(models).unet.config.block_out_channels) == [32, 64, 128, 128]
