"""How the command line reports failures: one line on stderr and an exit status.

Exit status: 0 done; 1 the work failed (e.g. null-text inversion diverged); 2 bad usage or input
(arguments, image files, prompts, models, output folders); 130 interrupted with Ctrl-C. Outputs are
staged (``outputs.py``), so a failure or an interrupt leaves nothing half-written.
"""
from __future__ import annotations

import re
import sys

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130
PROG = "nti-edu"


class CliError(Exception):
    """An error the command line reports as it is, with an exit status (2 unless told otherwise)."""

    def __init__(self, message: str, status: int = USAGE):
        super().__init__(message)
        self.status = status


def one_line(message: str) -> str:
    """The message with its line breaks (and the spaces around them) replaced by single spaces."""
    return re.sub(r"\s*\n\s*", " ", str(message)).strip()


def print_error(message: str, kind: str = "error") -> None:
    print(f"{PROG}: {kind}: {one_line(message)}", file=sys.stderr)


def status_of(err: BaseException) -> int | None:
    """The exit status for an exception the command line reports in one line, or None (a bug: re-raise).

    ValueError covers the library's checks (prompts, step counts, guidance, word swaps, images, model
    mismatches); OSError covers missing files, models that cannot be loaded and unwritable folders.
    """
    if isinstance(err, CliError):
        return err.status
    if isinstance(err, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(err, (ValueError, OSError)):
        return USAGE
    if isinstance(err, FloatingPointError):
        return FAILED
    return None


def describe(err: BaseException) -> str:
    """The one-line message for an exception: its own text, or its class name if it has none."""
    text = one_line(str(err)) if str(err).strip() else type(err).__name__
    if isinstance(err, OSError) and err.filename and err.strerror:  # not "[Errno 2] ...: 'x'"
        text = f"{err.filename}: {err.strerror}"
    return text
