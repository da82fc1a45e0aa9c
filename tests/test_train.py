"""The training code: a smoke run lowers its loss, resumes exactly, and exports a loadable model folder."""
import csv
import json

import pytest
import torch

from nti_edu.models import load_model
from nti_edu.sampling import generate
from nti_edu.train.config import TrainConfig
from nti_edu.train.export import sha256
from nti_edu.train import loop
from nti_edu.train.loop import learning_rate
from nti_edu.train.run import train


def losses(run_dir, stage):
    with open(run_dir / f"{stage}_log.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke")
    train(TrainConfig.smoke_test(str(run_dir / "run")), export_to=run_dir / "model")
    return run_dir


def test_smoke_training_lowers_both_losses(smoke_run):
    for stage in ("vae", "unet"):
        values = losses(smoke_run / "run", stage)
        assert len(values) >= 6
        first, last = sum(values[:3]) / 3, sum(values[-3:]) / 3
        assert last < 0.85 * first, (stage, values)


def test_exported_folder_loads_and_generates(smoke_run):
    model = load_model(str(smoke_run / "model"))
    assert model.latent_shape == (4, 16, 16) and model.image_size == 64
    assert model.vae.config.scaling_factor != 1.0  # measured from the latents, as SD did
    images = generate(model, ["a red circle", ""], num_steps=3, w=7.5)
    assert images.shape == (2, 3, 64, 64) and torch.isfinite(images).all()
    sums = json.loads((smoke_run / "model" / "checksums.json").read_text())
    assert sums and all(sha256(smoke_run / "model" / name) == digest for name, digest in sums.items())


def test_export_writes_files_that_transformers_4_and_5_read(smoke_run):
    """The tokenizer's class and the text encoder's key layout are those of SD's hub checkpoints, and the
    re-keyed text encoder loads to the run's EMA weights exactly."""
    from safetensors.torch import load_file

    folder = smoke_run / "model"
    config = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    stored = load_file(folder / "text_encoder" / "model.safetensors")
    ema = torch.load(smoke_run / "run" / "unet.pt", weights_only=False)["ema"]["text_encoder"]
    assert all(k.startswith("text_model.") for k in stored)
    loaded = load_model(str(folder)).text_encoder.state_dict()
    assert set(ema) <= set(loaded) and all(torch.equal(loaded[k], v) for k, v in ema.items())


def test_decoder_stage_keeps_the_latent_space(smoke_run):
    """The optional decoder fine-tune changes the decoder only: the encoder (so every latent) is untouched."""
    model = load_model(str(smoke_run / "model"))
    vae_ckpt = torch.load(smoke_run / "run" / "vae.pt", weights_only=False)["modules"]["vae"]
    decoder_ckpt = torch.load(smoke_run / "run" / "decoder.pt", weights_only=False)["modules"]["decoder"]
    exported = model.vae.state_dict()
    for key, value in vae_ckpt.items():
        if key.startswith(("encoder.", "quant_conv.")):
            assert torch.equal(exported[key], value), key
    changed = [k for k, v in decoder_ckpt.items() if not torch.equal(v, vae_ckpt[k])]
    assert changed and all(torch.equal(exported[k], decoder_ckpt[k]) for k in decoder_ckpt)
    assert json.loads((smoke_run / "model" / "model_index.json").read_text())["training"]["decoder_steps"] == 10


def test_resumed_training_equals_uninterrupted(tmp_path, monkeypatch):
    """Interrupted after step 6, then resumed == uninterrupted: data, noise and optimiser state are restored."""
    def config(name):
        cfg = TrainConfig.smoke_test(str(tmp_path / name))
        cfg.vae_steps, cfg.unet_steps, cfg.checkpoint_every = 2, 8, 4
        return cfg

    train(config("whole"))
    real_update = loop.update_ema

    def interrupt_at_step_6(ema, model, decay, step):
        if step == 6:
            raise KeyboardInterrupt
        real_update(ema, model, decay, step)

    monkeypatch.setattr(loop, "update_ema", interrupt_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        train(config("interrupted"))
    assert torch.load(tmp_path / "interrupted" / "unet.pt", weights_only=False)["step"] == 4
    monkeypatch.setattr(loop, "update_ema", real_update)
    train(config("interrupted"))
    a, b = (torch.load(tmp_path / d / "unet.pt", weights_only=False) for d in ("whole", "interrupted"))
    assert a["step"] == b["step"] == 8
    for key, value in a["ema"]["unet"].items():
        assert torch.equal(value, b["ema"]["unet"][key]), key


def test_learning_rate_schedule():
    assert learning_rate(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert learning_rate(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert learning_rate(100, 1.0, 10, 100) == pytest.approx(0.1)


def test_latent_patchwork_pastes_the_same_rectangle_in_latents_and_pixels():
    """The decoder's locality batch: the first half holds a rectangle of another image of that half, in the latent
    and in the pixels alike (4 x 4 pixels per latent pixel); the second half is untouched."""
    from nti_edu.train.vae import latent_patchwork

    z, x = torch.randn(4, 4, 16, 16), torch.rand(4, 3, 64, 64)
    z_mix, x_mix = latent_patchwork(z, x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(z_mix[2:], z[2:]) and torch.equal(x_mix[2:], x[2:])
    for i, j in ((0, 1), (1, 0)):  # image j's rectangle in image i (the mixed half, rolled by one)
        from_other = (z_mix[i] == z[j]).all(0) & (z_mix[i] != z[i]).any(0)  # (16, 16) bool
        assert 4 <= from_other.sum() < 16 * 16  # a rectangle of at least 2 x 2, never the whole latent
        rows, cols = from_other.nonzero().T
        assert from_other[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # a rectangle
        pixels = from_other.repeat_interleave(4, 0).repeat_interleave(4, 1)  # (64, 64)
        assert torch.equal(x_mix[i][:, pixels], x[j][:, pixels])
        assert torch.equal(x_mix[i][:, ~pixels], x[i][:, ~pixels])
    assert latent_patchwork(z, x, 0.0, torch.Generator())[0] is z


def test_warm_start_can_fine_tune_the_decoder_alone(smoke_run, tmp_path):
    """--init-from with the UNet's step as exported and --decoder-steps: only the decoder trains on, and the
    export records the decoder steps of both runs."""
    from safetensors.torch import load_file

    cfg = TrainConfig.smoke_test(str(tmp_path / "dec"))
    cfg.unet_steps, cfg.decoder_steps = 60, 5
    train(cfg, export_to=tmp_path / "model", init_from=smoke_run / "model")
    assert not (tmp_path / "dec" / "unet_log.csv").exists() or len(losses(tmp_path / "dec", "unet")) == 0
    assert len(losses(tmp_path / "dec", "decoder")) >= 2
    training = json.loads((tmp_path / "model" / "model_index.json").read_text())["training"]
    assert training["decoder_steps"] == 5 and training["decoder_steps_before"] == 10
    assert training["decoder_composite"] == 0.5 and training["vae_locality"] == 0.5
    name = "unet/diffusion_pytorch_model.safetensors"
    before, after = load_file(smoke_run / "model" / name), load_file(tmp_path / "model" / name)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_warm_start_goes_on_from_an_exported_folder(smoke_run, tmp_path):
    """--init-from: a new run stands at the exported step with the exported weights, then trains on to the
    asked step count with a fresh warm-up; the export records where it came from."""
    from safetensors.torch import load_file

    from nti_edu.train.loop import rewarm, Stage
    from nti_edu.train.warm_start import warm_start
    from nti_edu.world.tokenizer import build_tokenizer

    cfg = TrainConfig.smoke_test(str(tmp_path / "more"))
    cfg.unet_steps, cfg.decoder_steps = 70, 0
    assert warm_start(smoke_run / "model", tmp_path / "more", cfg, build_tokenizer()) == 60
    state = torch.load(tmp_path / "more" / "unet.pt", weights_only=False)
    exported = load_file(smoke_run / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    assert state["step"] == 60 and all(torch.equal(state["modules"]["unet"][k], v) for k, v in exported.items())
    assert rewarm(Stage("unet", {}, None, 70, 1, 1.0, 0, extra_state=state["extra"]), 60, 5) == pytest.approx(0.2)
    train(cfg, export_to=tmp_path / "model", init_from=smoke_run / "model")
    steps = [int(row["step"]) for row in csv.DictReader(open(tmp_path / "more" / "unet_log.csv"))]
    assert steps[0] == 60 and steps[-1] == 69
    training = json.loads((tmp_path / "model" / "model_index.json").read_text())["training"]
    assert training["unet_steps"] == 70 and training["restart_step"] == 60
    assert load_model(str(tmp_path / "model")).latent_shape == (4, 16, 16)
    with pytest.raises(ValueError, match="already at UNet step 60"):
        cfg.unet_steps = 60
        warm_start(smoke_run / "model", tmp_path / "other", cfg, build_tokenizer())


def test_warm_start_can_take_another_vae(smoke_run, tmp_path):
    """--vae-from: the run goes on with the other folder's VAE, its latents scaled by their own measured factor
    (a VAE whose latents are twice as large gets half the factor), and the export says where the VAE came from."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    other = AutoencoderKL.from_pretrained(smoke_run / "model" / "vae")
    with torch.no_grad():
        other.quant_conv.weight.mul_(2), other.quant_conv.bias.mul_(2)  # posterior means (and log-variances) x 2
    other.save_pretrained(tmp_path / "other_vae")
    cfg = TrainConfig.smoke_test(str(tmp_path / "swap"))
    cfg.unet_steps, cfg.decoder_steps = 65, 0
    train(cfg, export_to=tmp_path / "model", init_from=smoke_run / "model", vae_from=tmp_path / "other_vae")
    before = json.loads((smoke_run / "model" / "vae" / "config.json").read_text())["scaling_factor"]
    after = json.loads((tmp_path / "model" / "vae" / "config.json").read_text())["scaling_factor"]
    assert after == pytest.approx(before / 2, rel=1e-4)
    name = "vae/diffusion_pytorch_model.safetensors"
    exported, wanted = load_file(tmp_path / "model" / name), load_file(tmp_path / "other_vae" / name.split("/")[1])
    assert all(torch.equal(exported[k], wanted[k]) for k in wanted)
    training = json.loads((tmp_path / "model" / "model_index.json").read_text())["training"]
    assert training["vae_from"] == str(tmp_path / "other_vae") and training["unet_steps"] == 65
    with pytest.raises(ValueError, match="needs --init-from"):
        train(TrainConfig.smoke_test(str(tmp_path / "no")), vae_from=tmp_path / "other_vae")
    decoder_only = TrainConfig.smoke_test(str(tmp_path / "dec"))
    decoder_only.unet_steps, decoder_only.decoder_steps = 60, 5  # the exported step: no UNet steps to follow it
    with pytest.raises(ValueError, match="needs UNet steps"):
        train(decoder_only, init_from=smoke_run / "model", vae_from=tmp_path / "other_vae")
