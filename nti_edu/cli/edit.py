"""``nti-edu edit INVERSION_DIR --prompt NEW --out DIR``: edit a saved inversion with a new prompt.

Reads what ``nti-edu invert`` saved, refuses it if it was made with another model or schedule
(``nti_edu.storage.check_compatible``), samples the source and the target prompt side by side from
its x_T with its per-step null embeddings (Mokady et al. 2023, sec. 4) and, except in plain mode,
Prompt-to-Prompt attention control (Hertz et al. 2023, sec. 3.2). Writes ``source.png`` (the source
branch, i.e. the reconstruction), ``edited.png`` and ``edit.json``. With ``--paste-back WORD...`` the input's
pixels go back over those words' region (``nti_edu.paste_back``; with ``--paste-back-outside``, everywhere
else, and then the words may be ones that only the target has, such as "sunglasses"): ``edited.png`` is then
the pasted result, ``edited_before_paste_back.png`` the edit as sampled and ``paste_back_mask.png`` the region.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import args as a
from .common import add_model_arguments, check_prompt, load, note, progress_bars, quality, save_png
from .errors import CliError
from .outputs import StagedOutputs

MODES = ("auto", "plain", "swap", "refine", "reweight")


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "edit", parents=parents, help="edit a saved inversion with a new prompt (Prompt-to-Prompt)",
        description="Edit the image saved by `nti-edu invert` in INVERSION_DIR. Modes: plain (a bare prompt "
                    "change), swap (word swap: same number of words, e.g. red -> blue), refine (words added or "
                    "removed, e.g. 'a face' -> 'a face with sunglasses'), reweight (scale some words' attention "
                    "in the source prompt); auto (default) is swap when both prompts have the same number of "
                    "words, else refine.")
    p.add_argument("inversion", metavar="INVERSION_DIR", help="a folder written by `nti-edu invert`")
    p.add_argument("--prompt", help="the target prompt (reweight: leave out, the source prompt is kept)")
    p.add_argument("--mode", choices=MODES, default="auto", help="how to edit (default auto)")
    p.add_argument("--cross-replace", type=a.fraction, default=0.8,
                   help="fraction of the steps in which the target takes the source's cross-attention (default 0.8)")
    p.add_argument("--self-replace", type=a.fraction, default=0.4,
                   help="fraction of the steps in which the target takes the source's self-attention (default 0.4)")
    p.add_argument("--blend", nargs="+", metavar="WORD", default=None,
                   help="local blend: change only where these words attend; each word must be in the source "
                        "or the target prompt (e.g. --blend red blue circle)")
    p.add_argument("--blend-subtract", nargs="+", metavar="WORD", default=None,
                   help="with --blend: leave out where these words attend, e.g. --blend background "
                        "--blend-subtract circle changes the background and keeps the circle")
    p.add_argument("--reweight", nargs="+", type=a.word_scale, metavar="WORD=SCALE", default=None,
                   help="scale the cross-attention of words of the target prompt, e.g. --reweight red=2")
    p.add_argument("--guidance", type=a.guidance, default=None, help="guidance weight w (default: the inversion's)")
    p.add_argument("--target-w", type=a.guidance, default=None,
                   help="the target branch's guidance weight (default: w, as in the paper; 1.5 to 2.5 edits the "
                        "embedded model cleanly, see benchmarks/null_text_report.md)")
    p.add_argument("--target-null", choices=("tuned", "empty"), default="tuned",
                   help="the target branch's null embedding: the tuned ones (default, the paper) or the empty "
                        "prompt's (plain guidance towards the target; pair it with --paste-back)")
    p.add_argument("--paste-back", nargs="+", metavar="WORD", default=None,
                   help="put the input image's pixels back where these words of the source prompt are, e.g. "
                        "--paste-back circle for a new background behind the source's circle; words of the "
                        "target alone (--paste-back sunglasses --paste-back-outside) name what the edit adds")
    p.add_argument("--paste-back-outside", action="store_true",
                   help="with --paste-back: put the input's pixels back everywhere but those words' region, for "
                        "edits of the object itself, e.g. --paste-back circle --paste-back-outside for a new "
                        "colour of the circle on the source's own background")
    p.add_argument("--index", type=a.count, default=0, help="which image of the inversion to edit (default 0)")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    add_model_arguments(p)
    p.set_defaults(run=run)


def resolve_mode(mode: str, source: str, target: str) -> str:
    """The mode to use, and a CliError for prompts the mode cannot edit (checked before any work)."""
    from ..p2p import edit_kind

    kind = edit_kind(source, target)  # the library's one rule: same number of words -> swap
    if mode == "auto":
        mode = kind
        note(f"--mode auto: using {mode} ({'same' if kind == 'swap' else 'different'} number of words)")
    if mode == "swap" and kind != "swap":
        raise CliError(f"a word swap needs prompts with the same number of words, got {len(source.split())} in "
                       f"{source!r} and {len(target.split())} in {target!r}; use --mode refine to add or remove words")
    if mode == "reweight" and target != source:
        raise CliError(f"--mode reweight keeps the source prompt {source!r}; to re-weight while changing the prompt "
                       "use --mode swap or refine with --reweight")
    return mode


def split_words(flag: str, words, source: str, target: str) -> tuple[list, list]:
    """Words of a flag split into those of the source and those of the target (a word may be in both)."""
    src, tgt = source.lower().split(), target.lower().split()
    missing = [w for w in words if w.lower() not in src and w.lower() not in tgt]
    if missing:
        raise CliError(f"{flag} words must be in the source {source!r} or the target {target!r}; not found: "
                       f"{', '.join(missing)}")
    return [w for w in words if w.lower() in src], [w for w in words if w.lower() in tgt]


def blend_words(words, source: str, target: str, subtract=None):
    """The LocalBlend of ``--blend`` words, less the region of ``--blend-subtract`` words if given."""
    from ..p2p import LocalBlend

    subtract = split_words("--blend-subtract", subtract, source, target) if subtract else None
    return LocalBlend(*split_words("--blend", words, source, target), subtract_words=subtract)


def controller(model, args, mode: str, source: str, target: str, num_steps: int):
    """The Prompt-to-Prompt controller for ``mode`` (None for plain)."""
    from ..p2p import Reweight, prompt_edit

    if args.paste_back_outside and not args.paste_back:
        raise CliError("--paste-back-outside keeps everything but the --paste-back words' region: give those words "
                       "with --paste-back, e.g. --paste-back circle --paste-back-outside")
    if args.blend_subtract and not args.blend:
        raise CliError("--blend-subtract takes words out of a local blend: give the blend's words with --blend")
    if mode == "plain":
        if args.blend or args.reweight or args.paste_back:
            raise CliError("--blend, --reweight and --paste-back need attention control (--paste-back reads its "
                           "region from the stored cross-attention): use --mode swap, refine or reweight")
        return None
    weights = dict(args.reweight or [])
    if mode == "reweight" and not weights:
        raise CliError("--mode reweight needs --reweight WORD=SCALE, e.g. --reweight red=2")
    options = {"cross_replace_steps": args.cross_replace, "self_replace_steps": args.self_replace,
               "local_blend": blend_words(args.blend, source, target, args.blend_subtract) if args.blend else None}
    if mode == "reweight":
        return Reweight(model.tokenizer, source, num_steps, weights, **options)
    return prompt_edit(model.tokenizer, source, target, num_steps, kind=mode, weights=weights, **options)


def load_checked(folder: str, model):
    """The saved inversion, or a ValueError if another model or schedule made it (with the way out)."""
    from ..storage import load_result, read_settings

    try:
        return load_result(folder, model)
    except ValueError as err:
        saved = (read_settings(folder).get("model") or {}).get("name")
        hint = f"; pass --model {saved}" if saved and saved != model.name and not str(saved).startswith("embedded") \
            else ""
        raise ValueError(f"{err}{hint}") from err


def read_prompts(args) -> tuple[str, str]:
    """(source prompt, target prompt) from the saved inversion and --prompt (reweight: the source's)."""
    from ..storage import read_settings

    prompts = read_settings(args.inversion)["prompts"]
    if args.index >= len(prompts):
        raise CliError(f"--index {args.index} is out of range: {args.inversion} holds {len(prompts)} image(s)")
    source = prompts[args.index]
    if args.prompt is None and args.mode != "reweight":
        raise CliError(f"--prompt is required for --mode {args.mode} (the source prompt is {source!r})")
    return source, source if args.prompt is None else args.prompt


def paste_back_branch(args, source: str, target: str) -> int:
    """Whose maps give the --paste-back words' region: 0, the source's (words of the source prompt, cut on the
    input), or 1, the target's (words only the target has, cut on the edit; with --paste-back-outside only)."""
    if all(w.lower() in source.lower().split() for w in args.paste_back):
        return 0
    missing = [w for w in args.paste_back if w.lower() not in target.lower().split()]
    if missing:
        raise CliError(f"--paste-back words must all be in the source prompt {source!r} (the input shows them) or "
                       f"all in the target {target!r} (what the edit adds); not found: {', '.join(missing)}")
    if not args.paste_back_outside:
        raise CliError(f"--paste-back {' '.join(args.paste_back)}: words of the target alone name what the edit "
                       "adds; pasting the input over them would undo it. Add --paste-back-outside to keep everything "
                       "else")
    return 1


def paste_back_words(model, args, control, source: str, target: str, branch: int, edited, out):
    """The edit with the input's pixels over the --paste-back words' region (or, with --paste-back-outside, over
    the rest); writes the edit before it and the mask."""
    from ..images import load_image
    from ..paste_back import keep_mask, paste_back

    path = Path(args.inversion) / "input.png"
    if not path.is_file():
        raise CliError(f"--paste-back needs the input image that `nti-edu invert` saves, {path}, which is missing")
    image = load_image(path, edited.shape[-1])  # (1, 3, S, S)
    keep = keep_mask(control, model.tokenizer, edited if branch else image, target if branch else source,
                     args.paste_back, outside=args.paste_back_outside, branch=branch)  # (1, 1, S, S)
    save_png(edited, out.path("edited_before_paste_back.png"))
    save_png(keep.expand(-1, 3, -1, -1), out.path("paste_back_mask.png"))
    return paste_back(image, edited, keep)


def run(args) -> dict:
    from ..editing import edit

    source, target = read_prompts(args)  # 1. cheap checks: the inversion's files, the prompts, the mode
    mode = resolve_mode(args.mode, source, target)
    branch = paste_back_branch(args, source, target) if args.paste_back else 0  # whose maps give the region
    with StagedOutputs(args.out) as out:
        model = load(args)  # 2. the model, the saved inversion's compatibility, the controller
        result = load_checked(args.inversion, model)
        check_prompt(model, target)
        control = controller(model, args, mode, source, target, result.num_steps)
        start = time.perf_counter()
        src_img, edited = edit(model, result, target, controller=control, w=args.guidance, target_w=args.target_w,
                               target_null=args.target_null, image=args.index,
                               progress=progress_bars(args))  # 3. the work: 2 x (1, 3, S, S)
        if args.paste_back:
            edited = paste_back_words(model, args, control, source, target, branch, edited, out)  # (1, 3, S, S)
        w = args.guidance if args.guidance is not None else result.w
        info = {"source_prompt": source, "target_prompt": target, "mode": mode, "method": result.method,
                "num_steps": result.num_steps, "w": w, "target_w": args.target_w if args.target_w is not None else w,
                "cross_replace": args.cross_replace, "self_replace": args.self_replace, "blend": args.blend,
                "blend_subtract": args.blend_subtract, "target_null": args.target_null,
                "paste_back": args.paste_back, "paste_back_outside": args.paste_back_outside,
                "reweight": dict(args.reweight or []), "model": model.name,
                "edited_vs_source": quality(edited, src_img), "seconds": round(time.perf_counter() - start, 2)}
        save_png(src_img, out.path("source.png"))
        save_png(edited, out.path("edited.png"))
        out.write_json("edit.json", info)
    print(f"{mode} edit {source!r} -> {target!r}: edited vs source PSNR {info['edited_vs_source']['psnr_db']:.2f} dB "
          f"({info['seconds']:.1f} s) -> {Path(args.out)}")
    return info
