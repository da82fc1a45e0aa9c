"""Is the embedded model's latent local? What a local blend needs, measured on the VAE alone.

    python benchmarks/vae_locality.py                                  # the shipped VAE -> vae_locality.md
    python benchmarks/vae_locality.py --vae runs/vae_local/vae_export  # and candidate VAE folders, side by side

A local blend (Prompt-to-Prompt, nti_edu/p2p/blend.py) keeps the source's latent over what the edit must
not touch and the target's elsewhere. That keeps the source's pixels only if the latent is local: each
latent pixel stands for its own 4 x 4 pixels, whatever surrounds them. Measured on the null-text report's
background swaps (held-out scenes, the same object on a background of another colour), with the world's own
drawings of the source and the target scene:

- latent change inside the object: mean |z_target - z_source| over the latent pixels wholly inside the
  object, over the same in the background two or more latent pixels away from it (0: a local latent;
  about 1: the object's latent changes as much as the background's, though only the background changed);
- patchwork PSNR over the object: the target's latent with the source's on every latent pixel the object
  touches, decoded; PSNR over the object's pixels against the source drawing. Beside it the plain round
  trips of the source and of the target drawing over the same pixels (the object is the same in both);
- the round trip of 100 held-out world images: the VAE's quality, which locality must not cost.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from nti_edu.models import load_model
from nti_edu.report.locality import locality, round_trip
from nti_edu.report.scenes import edit_cases, kind_seeds
from nti_edu.world import heldout_seeds, make_batch

HERE = Path(__file__).resolve().parent

KIND = "background swap"


def load_vae(folder: str):
    """An AutoencoderKL folder, or a model folder holding one in vae/."""
    from diffusers import AutoencoderKL

    path = Path(folder)
    return AutoencoderKL.from_pretrained(path / "vae" if (path / "vae").is_dir() else path).eval()


def table(rows: dict) -> list[str]:
    lines = ["| VAE | round trip (dB) | latent change inside the object / in the background | patchwork over the "
             "object (dB) | source round trip over it (dB) | target round trip over it (dB) |",
             "|---|---|---|---|---|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['round_trip']:.2f} | {r['change_ratio']:.2f} | {r['patchwork']:.2f} | "
                     f"{r['source']:.2f} | {r['target']:.2f} |")
    return lines


def reading(rows: dict) -> list[str]:
    """What the rows say, written from them: the shipped VAE, then the most local candidate."""
    (label, r), *others = rows.items()
    lines = [f"The shipped VAE: an object's latent changes {r['change_ratio']:.2f} times as much as the background's "
             "when only the background changes, and the object, its source latent decoded among the target's, keeps "
             f"{r['patchwork']:.1f} dB (its own round trip: {r['source']:.1f} dB). A local blend cannot keep what the "
             "latent does not keep: this bounds every background swap's PSNR over the object (null_text_report.md asks "
             "25 dB)."]
    if others:
        best_label, best = min(others, key=lambda item: item[1]["change_ratio"])
        lines.append(f"The most local candidate, {best_label}: {best['change_ratio']:.2f}, {best['patchwork']:.1f} dB over "
                     f"the object (its own round trip {best['source']:.1f} dB), round trip {best['round_trip']:.2f} dB "
                     f"(shipped: {r['round_trip']:.2f} dB).")
    return [" ".join(lines), ""]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", action="append", default=[], help="a candidate VAE (or model) folder; repeatable")
    p.add_argument("--label", action="append", default=[], help="how each --vae was made, in the same order")
    p.add_argument("--n", type=int, default=50, help="held-out background-swap scenes")
    p.add_argument("--out", type=Path, default=HERE / "vae_locality.md")
    command = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(command)
    if args.label and len(args.label) != len(args.vae):
        p.error(f"give one --label per --vae ({len(args.vae)} VAEs, {len(args.label)} labels)")
    labels = args.label or [f"`{folder}`" for folder in args.vae]
    start = time.perf_counter()
    model = load_model("embedded")
    vaes = {f"shipped (`{model.name}`)": model.vae} | {label: load_vae(v) for label, v in zip(labels, args.vae)}
    cases = edit_cases(KIND, kind_seeds(KIND, args.n, heldout=True))
    images = make_batch(heldout_seeds(100))[0]  # (100, 3, 64, 64)
    rows = {label: {"round_trip": round_trip(vae, images),
                    **locality(vae, cases["images"], cases["targets"], cases["regions"])} for label, vae in vaes.items()}
    lines = ["# Is the latent local? The embedded model's VAE, measured", "",
             f"Generated by `{shlex.join(['python', 'benchmarks/vae_locality.py', *command])}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {time.perf_counter() - start:.0f} s; "
             f"{args.n} held-out background-swap scenes (the null-text report's), 100 held-out images for the round "
             "trip. The measures are defined in the script's docstring.", ""] + table(rows) + [""] + reading(rows)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
