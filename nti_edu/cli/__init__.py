"""The ``nti-edu`` command: DDIM and null-text inversion, editing and sweeps from the shell.

    nti-edu demo                                   # the main job: embedded model, offline, < 2 min on a CPU
    nti-edu invert IMAGE --prompt TEXT --out DIR   # invert, save, reconstruct
    nti-edu edit DIR --prompt NEW --mode swap --out EDIT_DIR
    nti-edu sweep IMAGE --prompt TEXT --out DIR    # steps x guidance grid of PSNR and drift
    nti-edu sdedit IMAGE --prompt NEW --strength 0.6 --out DIR   # SDEdit: no inversion (the paper's baseline)

One module per command (``demo``, ``invert``, ``edit``, ``sweep``, ``sdedit``), each with ``add_parser`` and
``run(args)``. ``main`` turns every expected failure into one line on stderr and an exit status
(``errors.py``); outputs are staged so that nothing is left half-written (``outputs.py``).
"""
from __future__ import annotations

from typing import Sequence

from . import demo, edit, invert, sdedit, sweep
from ..threads import set_threads
from .args import OneLineParser, positive_count
from .errors import INTERRUPTED, OK, PROG, describe, print_error, status_of

COMMANDS = (demo, invert, edit, sweep, sdedit)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="DDIM inversion and null-text inversion (Mokady et al., CVPR "
                           "2023), written out for teaching, on a small embedded diffusion model or Stable "
                           "Diffusion. Exit status: 0 done, 1 the work failed, 2 bad usage or input, 130 "
                           "interrupted (nothing is left half-written).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    common = OneLineParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    common.add_argument("--threads", type=positive_count, default=None, metavar="N",
                        help="CPU threads for PyTorch (default: the CPUs this process may use, from its affinity "
                             "and cgroup quota; idle threads sleep rather than spin, so a shared machine stays fair: "
                             "nti_edu/threads.py)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       parser_class=OneLineParser)
    for command in COMMANDS:
        command.add_parser(subparsers, parents=[common])
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nti-edu`` with ``argv`` (default: sys.argv[1:]); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already reported in one line
        return exit_.code if isinstance(exit_.code, int) else OK
    if getattr(args, "threads", None):
        set_threads(args.threads)  # before torch is imported by the command
    try:
        args.run(args)
    except (Exception, KeyboardInterrupt) as err:
        status = status_of(err)
        if status is None or getattr(args, "traceback", False):
            raise
        if status == INTERRUPTED:
            print_error(f"nothing was left half-written{_where(args)} (outputs are moved in place only at the end)",
                        kind="interrupted")
        else:
            print_error(describe(err))
        return status
    return OK


def _where(args) -> str:
    out = getattr(args, "out", None)
    return f" in {out}" if out else ""
