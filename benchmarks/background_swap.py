"""Why background swaps are the hard edit on the embedded model: which tokens carry the background.

    python benchmarks/background_swap.py           # writes benchmarks/background_swap.md (about 4 minutes)

The null-text report (null_text_report.py) finds background swaps failing where colour, shape and
sunglasses edits pass: the object changes with the background. Here the same held-out scenes are
null-text inverted and edited by a Prompt-to-Prompt word swap whose target embedding is spliced from
the source's and the target's at three groups of positions: the words (up to the last word), the end
token, the padding after it. The text encoder is causal (CLIP's), so the words before the changed
colour are the same in both prompts; what differs is the changed word, the words after it, and the
end and padding tokens, which see the whole prompt. If the background follows the end and padding
tokens, every pixel that attends to them (the object's included) hears of the new background.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from nti_edu.editing import edit
from nti_edu.evaluator import load_evaluator
from nti_edu.models import load_model
from nti_edu.report.edits import P2PSetting, controller, invert_cases
from nti_edu.report.scenes import edit_cases, kind_seeds, psnr_outside
from nti_edu.report.splice import SplicedTarget

HERE = Path(__file__).resolve().parent

KIND = "background swap"
SETTING = P2PSetting(0.8, 0.4, None, 2.5)  # no local blend, so only the prompt's tokens differ
SPLICES = {  # which positions take the target's embedding (the rest: the source's)
    "target prompt as is (words, end, padding)": ("words", "end", "padding"),
    "target words and end, source padding": ("words", "end"),
    "target words, source end and padding": ("words",),
    "source words, target end and padding": ("end", "padding"),
}


def edit_all(model, evaluator, cases: dict, result, parts) -> dict:
    """Word-swap every case with the spliced target embedding; the evaluator's verdicts and PSNR outside."""
    edited = []
    for i, e in enumerate(cases["edits"]):
        spliced = SplicedTarget(model, e.source_prompt, e.target_prompt, parts)
        control = controller(model.tokenizer, e, result.num_steps, SETTING)
        edited.append(edit(spliced, result, e.target_prompt, controller=control, target_w=SETTING.target_w,
                           image=i, progress=False)[1])
    edited = torch.cat(edited)  # (B, 3, H, W)
    verdicts = evaluator.judge(edited, [e.target_prompt for e in cases["edits"]])
    return {"verdicts": verdicts, "psnr_outside": psnr_outside(edited, cases["images"], cases["regions"])}


def share(verdicts, keys) -> float:
    return sum(all(v[k] for k in keys) for v in verdicts) / len(verdicts)


def table(rows: dict) -> list[str]:
    lines = ["| target embedding | new background shown | object kept (kind, shape, colour, size, position) | "
             "every attribute | mean PSNR outside (dB) |", "|---|---|---|---|---|"]
    obj = ("kind", "shape", "colour", "size", "position")
    for label, r in rows.items():
        v = r["verdicts"]
        lines.append(f"| {label} | {share(v, ('background',)):.0%} | {share(v, obj):.0%} | "
                     f"{share(v, obj + ('background',)):.0%} | {r['psnr_outside'].mean():.2f} |")
    return lines


def reading(rows: dict) -> list[str]:
    """What the rows say, written from them."""
    shown = {label: share(r["verdicts"], ("background",)) for label, r in rows.items()}
    as_is, words_only, tail_only = (shown[k] for k in ("target prompt as is (words, end, padding)",
                                                       "target words, source end and padding",
                                                       "source words, target end and padding"))
    carriers = ("the end and padding tokens carry the background more than its words do" if tail_only > words_only
                else "the background's words carry it at least as much as the end and padding tokens")
    return [f"The new background shows in {as_is:.0%} of the plain word swaps; with the target's words but the "
            f"source's end and padding tokens in {words_only:.0%}; with the source's words and only the target's end "
            f"and padding in {tail_only:.0%}. So on this model {carriers}; as every pixel attends to the end and "
            "padding tokens (the small model's word maps keep a floor of about a third of their peak over the "
            "image, nti_edu/p2p/blend.py), the object hears of the change too. The local blends tried on this "
            "edit, with and without the object's region, are in null_text_report.md.", ""]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=12, help="held-out background-swap scenes (the report's)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--out", type=Path, default=HERE / "background_swap.md")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    start = time.perf_counter()
    model, evaluator = load_model("embedded"), load_evaluator()
    cases = edit_cases(KIND, kind_seeds(KIND, args.n, heldout=True))
    result, _ = invert_cases(model, cases, args.steps)
    rows = {label: edit_all(model, evaluator, cases, result, parts) for label, parts in SPLICES.items()}
    lines = ["# Background swaps on the embedded model: which tokens carry the background", "",
             f"Generated by `python benchmarks/background_swap.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {(time.perf_counter() - start) / 60:.1f} min; "
             f"model `{model.name}`.", "",
             f"{args.n} held-out background-swap scenes (the null-text report's), null-text inverted ({args.steps} "
             f"steps, the official defaults), then a word swap ({SETTING.label()}) whose target embedding takes the "
             "target prompt's values at some positions and the source prompt's at the others. The evaluator judges "
             "the edited image against the target prompt; PSNR outside is over the object (the pixels the edit "
             "should not touch).", ""]
    lines += table(rows) + [""] + reading(rows)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
