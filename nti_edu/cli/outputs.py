"""Output folders that are never left half-written.

Every file a command writes goes to a hidden staging folder inside the output folder, and only when
the whole command has finished are the files moved to their names (``os.replace``, atomic on one
file system), JSON files last since they describe the others. If the command fails or is
interrupted, the staging folder is removed, files from an earlier run stay as they were, and an
output folder that this command created is removed again if it is empty.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import CliError

STAGING_PREFIX = ".nti-edu-staging-"


def _file_ancestor(folder: Path) -> Path | None:
    """The first existing path on the way to ``folder`` that is a file rather than a folder, if any."""
    for path in [*reversed(folder.parents), folder]:
        if path.exists() and not path.is_dir():
            return path
    return None


def make_folder(folder: Path) -> bool:
    """Create ``folder`` (and its parents); True if it did not exist. CliError if it cannot be a folder."""
    existed = folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = _file_ancestor(folder)
        reason = f"{blocker} is a file, not a folder" if blocker else (err.strerror or str(err))
        raise CliError(f"cannot write to the output folder {folder}: {reason}") from err
    return not existed


class StagedOutputs:
    """A context manager: ``path(name)`` gives where to write ``name``; the files appear on success only."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.staging: Path | None = None
        self.created = False
        self.written: list[Path] = []  # the output files, once committed

    def __enter__(self) -> "StagedOutputs":
        self.created = make_folder(self.folder)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.folder))
        except OSError as err:
            self._remove_if_empty()
            raise CliError(f"cannot write to the output folder {self.folder}: {err.strerror or err}") from err
        return self

    def path(self, name: str) -> Path:
        """Where to write the output file ``name`` for now (inside the staging folder)."""
        return self.staging / name

    def write_json(self, name: str, data: dict) -> Path:
        path = self.path(name)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path

    def commit(self) -> list[Path]:
        """Move every staged file to its name in the output folder, JSON files last; return the new paths."""
        names = sorted((p.name for p in self.staging.iterdir() if p.is_file()), key=lambda n: (n.endswith(".json"), n))
        for name in names:
            os.replace(self.staging / name, self.folder / name)
        return [self.folder / name for name in names]

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.written = self.commit()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
            if exc_type is not None:
                self._remove_if_empty()

    def _remove_if_empty(self) -> None:
        if self.created and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
