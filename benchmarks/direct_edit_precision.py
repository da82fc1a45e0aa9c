"""Direct inversion followed by a Prompt-to-Prompt edit in half precision: does the edit's source branch retrace
the pivots? (issue 35, item 9; the findings are in direct_edit_precision.md)

PnP Inversion's corrections (``InversionResult.corrections``) are computed during the inversion, where the UNet
sees a batch of one image; the edit adds them to its source branch, where the UNet sees [source, target] and, with
a controller, attention computed explicitly (``nti_edu.p2p.processor``) instead of the fused kernel. The
corrections cancel the source's step exactly only if both calls agree bit for bit. This measures how far the
source branch drifts from the pivots (relative L2 per step) for: no controller, the do-nothing controller (the
explicit attention alone), and a word swap; in float32 and bfloat16; on the trained embedded model and on a tiny
random-weight model; and, as a yardstick, the bfloat16 pivots' own distance from the float32 ones.

    python benchmarks/direct_edit_precision.py [--steps 20]
"""
import argparse
import copy
import tempfile
import warnings

import torch

import nti_edu  # noqa: F401 (thread policy before torch work)
from nti_edu.alternatives import direct_inversion
from nti_edu.editing import edit_latents
from nti_edu.lecture import world_examples
from nti_edu.metrics import psnr
from nti_edu.models import load_model
from nti_edu.p2p import AttentionControl, WordSwap
from nti_edu.testing.random_init import save_random_sd


def drift(latents, pivots) -> list[float]:
    """||source branch - pivot|| / ||pivot|| per step, noisiest first."""
    return [((x[0] - p[0]).norm() / p[0].norm()).item() for x, p in zip(latents, pivots)]


def measure(model, images, source, target, steps):
    result = direct_inversion(model, images, source, num_steps=steps, w=7.5)
    controllers = {"none": None, "do-nothing": AttentionControl(),
                   "word swap": WordSwap(model.tokenizer, source, target, steps)}
    rows = {}
    for name, controller in controllers.items():
        latents = edit_latents(model, result, target, controller=controller)
        d = drift(latents, result.latents)
        image = model.latent_to_image(latents[-1][:1])
        rows[name] = (d[1], max(d), d[-1], psnr(image, images).item())
    return result, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    embedded = load_model("embedded")
    images, prompts, _ = world_examples(1, embedded.image_size)
    source = prompts[0]
    target = source.replace("orange", "blue") if "orange" in source else source.replace("red", "blue")
    tiny = load_model(str(save_random_sd(tempfile.mkdtemp(), seed=0)))
    noise = torch.rand(1, 3, tiny.image_size, tiny.image_size, generator=torch.Generator().manual_seed(0))
    print(f"| model | dtype | controller | drift after step 1 | largest drift | drift at x_0 | source PSNR (dB) |")
    print("|---|---|---|---|---|---|---|")
    for label, base, x, src, tgt in (("embedded", embedded, images, source, target),
                                     ("tiny random", tiny, noise, "a red circle", "a blue circle")):
        pivots = {}
        for dtype in (torch.float32, torch.bfloat16):
            torch.manual_seed(0)
            model = copy.deepcopy(base).to(dtype=dtype)
            result, rows = measure(model, x, src, tgt, args.steps)
            pivots[dtype] = result.latents
            for name, (first, largest, last, db) in rows.items():
                print(f"| {label} | {str(dtype)[6:]} | {name} | {first:.2g} | {largest:.2g} | {last:.2g} | {db:.2f} |")
        gap = drift(pivots[torch.bfloat16], pivots[torch.float32])
        print(f"| {label} | bf16 pivots vs float32 pivots | | {gap[1]:.2g} | {max(gap):.2g} | {gap[-1]:.2g} | |",
              flush=True)


if __name__ == "__main__":
    main()
