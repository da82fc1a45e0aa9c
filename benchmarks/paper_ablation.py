"""The paper's ablation re-made on the embedded model (Mokady et al. 2023, sec. 4, Fig. 4; issue 36).

Reconstruction PSNR against inner iterations and seconds for every variant (null-text, random pivot, global null,
textual inversion with and without a pivot), DDIM inversion and the VAE round trip as bounds; then each
variant's editability on the same held-out scenes (Prompt-to-Prompt and a plain target-prompt resample), and
SDEdit over its strength t0. Writes benchmarks/paper_ablation.md and .png (the measuring is nti_edu.report).

    python benchmarks/paper_ablation.py [--n 4] [--steps 20] [--budgets 1 2 5 10] [--strengths 0.3 0.5 0.7 0.9]
"""
import argparse
import time
from pathlib import Path

import nti_edu  # noqa: F401  (the thread policy, before torch)
from nti_edu.evaluator import load_evaluator
from nti_edu.models import load_model
from nti_edu.report import paper_ablation as pa
from nti_edu.viz import paper_ablation_figure

HERE = Path(__file__).parent


def table(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def write(args, cases, bounds, curves, edits, sd, seconds) -> None:
    lines = [f"# The paper's ablation on the embedded model (Mokady et al. 2023, sec. 4, Fig. 4)", "",
             f"`python benchmarks/paper_ablation.py --n {args.n} --steps {args.steps} --budgets "
             f"{' '.join(map(str, args.budgets))} --strengths {' '.join(map(str, args.strengths))}`: "
             f"{len(cases['edits'])} held-out scenes ({args.n} each of {', '.join(pa.EDITS)}), {args.steps} DDIM "
             f"steps, w = {pa.W}, early stop off; {seconds:.0f} s in all on this machine. {args.note}".rstrip(), "",
             "![figure](paper_ablation.png)", "", "Reconstruction (mean PSNR, dB) by inner iterations per step N:", ""]
    lines += table(["variant"] + [f"N = {n}" for n in args.budgets] + ["seconds at the largest N"],
                   [[name] + [f"{r['psnr']:.2f}" for r in rows] + [f"{rows[-1]['seconds']:.0f}"]
                    for name, rows in curves.items()] +
                   [[name] + [f"{v:.2f}"] * len(args.budgets) + [""] for name, v in bounds.items()])
    lines += ["", f"Editability of each variant's inversion at N = {args.budgets[-1]} (success by the evaluator; "
              "PSNR of the region the edit must keep):", ""]
    lines += table(["variant", "P2P success", "P2P kept (dB)", "resample success", "resample kept (dB)"],
                   [[name, f"{e['p2p']['success']:.0f}%", f"{e['p2p']['kept']:.2f}", f"{e['resample']['success']:.0f}%",
                     f"{e['resample']['kept']:.2f}"] for name, e in edits.items()])
    lines += ["", "What the paper claims (sec. 4) and what this run shows:", ""] + pa.findings(curves, edits)
    lines += ["", f"With {len(cases['edits'])} scenes one edit is {100 / len(cases['edits']):.1f} points of success: "
              "read the success columns as counts. Every variant starts from the same DDIM pivots and x_T except "
              "the random pivot (x_T is z_0 noised) and textual inversion without a pivot (x_T inverted with its "
              "tuned C); the kept-region PSNR of an edit is bounded by its reconstruction."]
    lines += ["", "SDEdit (no inversion) over its strength t0: reconstruction with the source prompt, edit with the "
              "target prompt (target w 1.5):", ""]
    lines += table(["t0", "reconstruction PSNR", "edit success", "edit kept (dB)"],
                   [[f"{r['strength']:g}", f"{r['psnr']:.2f}", f"{r['success']:.0f}%", f"{r['kept']:.2f}"] for r in sd])
    (HERE / "paper_ablation.md").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="held-out scenes per edit kind")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--note", default="", help="a sentence about the run for the report (e.g. the machine's load)")
    args = parser.parse_args()
    start, model, evaluator = time.perf_counter(), load_model("embedded"), load_evaluator()
    cases = pa.scenes(args.n)
    bounds = {k: v.mean().item() for k, v in pa.bounds(model, cases, args.steps).items()}
    curves, edits = {}, {}
    for name in pa.VARIANTS:
        curves[name], result = pa.curve(model, name, cases, args.steps, args.budgets)
        judged = pa.editability(model, evaluator, cases, result)
        edits[name] = {mode: pa.summary(j) for mode, j in judged.items()}
        print(name, curves[name], edits[name], flush=True)
    sd = [{**r, **pa.summary(r)} for r in pa.sdedit_rows(model, evaluator, cases, args.steps, args.strengths)]
    fig = paper_ablation_figure(curves, bounds, {k: e["p2p"] for k, e in edits.items()}, sd)
    fig.savefig(HERE / "paper_ablation.png", dpi=110)
    write(args, cases, bounds, curves, edits, sd, time.perf_counter() - start)


if __name__ == "__main__":
    main()
