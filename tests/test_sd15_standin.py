"""The SD-1.5 stand-in (nti_edu.testing): Stable Diffusion 1.5's structure at small widths, loaded as SD is.

Its configs are checked against SD 1.5's public ones (nti_edu.models.sd15), the attention placement by running
it, the real widths by parameter counts, and null-text inversion (Mokady et al. 2023) runs on a 512x512 image.
"""
import ast
from pathlib import Path

import pytest
import torch

import nti_edu
from nti_edu.inversion import invert
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.models.sd15 import SD15_UNET_CONFIG, SD15_VAE_CONFIG, SD_SCHEDULER_CONFIG
from nti_edu.null_text import null_text_inversion
from nti_edu.reconstruction import reconstruct
from nti_edu.schedule import NoiseSchedule
from nti_edu.testing.sd15_standin import standin_configs


@pytest.fixture(scope="module")
def standin(sd15_standin_dir):
    return load_model(str(sd15_standin_dir))  # diffusers' and transformers' from_pretrained, as for SD


def test_structure_is_sd15s(standin):
    unet, vae, text = standin.unet.config, standin.vae.config, standin.text_encoder.config
    for key in ("down_block_types", "up_block_types", "layers_per_block", "cross_attention_dim", "sample_size",
                "attention_head_dim", "in_channels"):
        assert tuple(unet[key]) == tuple(SD15_UNET_CONFIG[key]) if isinstance(unet[key], (list, tuple)) \
            else unet[key] == SD15_UNET_CONFIG[key]
    assert tuple(unet.block_out_channels) == (32, 64, 64, 64)  # only the widths shrink
    assert (standin.image_size, standin.latent_shape, standin.vae_scale_factor) == (512, (4, 64, 64), 8)
    assert vae.scaling_factor == SD15_VAE_CONFIG["scaling_factor"] == 0.18215
    assert (vae.latent_channels, vae.sample_size, len(vae.block_out_channels)) == (4, 512, 4)
    assert (text.hidden_size, text.max_position_embeddings, text.vocab_size) == (768, 77, 49408)
    assert (len(standin.tokenizer), standin.tokenizer.model_max_length) == (49408, 77)
    assert torch.equal(standin.schedule.alpha_bar, NoiseSchedule.from_config(SD_SCHEDULER_CONFIG).alpha_bar)


def test_cross_attention_where_sd15_has_it(standin):
    """One UNet call on a 512x512 image's latent: cross-attention at 64, 32, 16 (down and up) and 8 (mid),
    16 transformer blocks as in SD 1.5, each reading a (77, 768) context."""
    seen = []

    def record(module, args, kwargs):
        x, context = args[0], kwargs["encoder_hidden_states"]  # (B, h*w, C), (B, 77, 768)
        seen.append((round(x.shape[1] ** 0.5), tuple(context.shape[1:])))

    hooks = [m.attn2.register_forward_pre_hook(record, with_kwargs=True)
             for m in standin.unet.modules() if hasattr(m, "attn2") and m.attn2 is not None]
    try:
        with torch.no_grad():
            eps = standin.predict_eps(torch.randn(1, 4, 64, 64), 981, standin.encode_prompt("a photo of a cat"))
    finally:
        for hook in hooks:
            hook.remove()
    assert eps.shape == (1, 4, 64, 64)
    assert [side for side, _ in seen] == [64, 64, 32, 32, 16, 16, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64]
    assert {ctx for _, ctx in seen} == {(77, 768)}


def test_sd15_widths_are_sd15s():
    """``widths="sd15"`` builds SD 1.5's components: their published parameter counts (built on the meta device)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    configs = standin_configs("sd15")
    with torch.device("meta"):
        modules = (UNet2DConditionModel(**configs["unet"]), AutoencoderKL(**configs["vae"]),
                   CLIPTextModel(CLIPTextConfig(**configs["text_encoder"])))
    assert [sum(p.numel() for p in m.parameters()) for m in modules] == [859_520_964, 83_653_863, 123_060_480]
    with pytest.raises(ValueError, match="widths must be one of"):
        standin_configs("large")


def test_null_text_inversion_at_512(standin):
    """Algorithm 1 at SD's image size (3 steps, 2 inner iterations): the pivots start at the image's latent, every
    step's loss goes down, and the reconstruction at w = 7.5 is closer than DDIM inversion's."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 512), torch.linspace(0, 1, 512), indexing="ij")
    image = torch.stack([xx, yy, 0.5 + 0.4 * torch.sin(6 * xx * yy)])[None]  # (1, 3, 512, 512)
    prompt = ["a photo of a cat"]
    result = null_text_inversion(standin, image, prompt, num_steps=3, num_inner_steps=2, progress=False)
    with torch.no_grad():
        assert torch.equal(result.x_0, standin.image_to_latent(image))  # (1, 4, 64, 64)
        target = standin.latent_to_image(result.x_0)  # the best a reconstruction can do through this VAE
        ddim = reconstruct(standin, invert(standin, image, prompt, num_steps=3), w=7.5)
        tuned = reconstruct(standin, result)
    assert len(result.emb_null) == 3 and result.emb_null[0].shape == (1, 77, 768)
    assert all(losses[-1] < losses[0] for losses in result.losses)
    assert psnr(tuned, target).item() > psnr(ddim, target).item()


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module (or name) an AST imports, relative ones with their leading dots ("..testing", ".models.sd15")."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names += [base] + [base + ("." if node.module else "") + a.name for a in node.names]
    return names


def test_library_never_imports_testing():
    """nti_edu.testing is test tooling: no module of the library imports it (issue 28's layering)."""
    root = Path(nti_edu.__file__).parent
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.py") if "testing" not in path.relative_to(root).parts
                 and any(name.lstrip(".").split(".")[0] == "testing" or name.startswith("nti_edu.testing")
                         for name in imported_modules(ast.parse(path.read_text())))]
    assert offenders == []
    assert "..testing" in imported_modules(ast.parse("from .. import testing"))  # the check sees relative imports
    assert "..testing" in imported_modules(ast.parse("from ..testing import save_sd15_standin"))


def test_command_line_refuses_unknown_widths(capsys, tmp_path):
    from nti_edu.testing.sd15_standin import main

    with pytest.raises(SystemExit):
        main([str(tmp_path), "--widths", "large"])
    assert "invalid choice: 'large'" in capsys.readouterr().err and not any(tmp_path.iterdir())
