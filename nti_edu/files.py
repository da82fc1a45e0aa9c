"""Reading files that may be damaged: a one-line error that names the file and says what is wrong.

Files get cut short (a full disk, an interrupted copy), emptied, replaced by something else or changed
a few bytes at a time. A library error from deep inside a parser ("Expecting ',' delimiter: line 14
column 13", a safetensors header error) names neither the file nor the way out, and damaged tensor
bytes do not fail at all: they load as other numbers. So every file nti_edu reads goes through these
helpers, and files whose bytes matter (saved inversions, shipped models) are compared with a SHA-256
checksum recorded when they were written.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHECKSUMS = "checksums.json"  # a model folder's {relative path: sha256}, written by nti_edu.train.export


class DamagedFileError(ValueError):
    """A file that exists but cannot be used as it is (truncated, empty, of another kind, or changed)."""


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | Path, what: str = "a JSON file") -> dict:
    """The JSON object in ``path``, or a DamagedFileError naming it (empty, not UTF-8 text, not JSON, not an object)."""
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise DamagedFileError(f"{path} is empty; it should hold {what}")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedFileError(f"{path} is not UTF-8 text (binary data, or cut short inside a character?); it should "
                               f"hold {what}") from None
    except json.JSONDecodeError as err:
        raise DamagedFileError(f"{path} is not valid JSON (truncated or damaged?): {err.msg} at line {err.lineno} "
                               f"column {err.colno}; it should hold {what}") from None
    if not isinstance(value, dict):
        raise DamagedFileError(f"{path} holds a JSON {type(value).__name__}, not an object; it should hold {what}")
    return value


def check_sha256(path: str | Path, expected: str, remedy: str, data: bytes | None = None) -> None:
    """A DamagedFileError unless the file's SHA-256 (of ``data``, its bytes, if already read) is ``expected``;
    ``remedy`` says what to do then."""
    if (sha256(path) if data is None else hashlib.sha256(data).hexdigest()) != expected:
        raise DamagedFileError(f"{path} does not match its recorded SHA-256 checksum: it was damaged or changed "
                               f"after it was written; {remedy}")


def check_folder(folder: str | Path, remedy: str) -> None:
    """Compare every file listed in ``folder/checksums.json`` with its checksum (nothing to do without one)."""
    folder = Path(folder)
    if not (folder / CHECKSUMS).is_file():
        return
    sums = read_json(folder / CHECKSUMS, "the SHA-256 of each file of the model folder")
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            raise DamagedFileError(f"{path} is missing (listed in {folder / CHECKSUMS}); {remedy}")
        check_sha256(path, str(digest), remedy)



def check_json_files(folder: str | Path) -> None:
    """Read every ``*.json`` under ``folder`` (configs, tokenizer files): a DamagedFileError names the first bad one."""
    for path in sorted(Path(folder).rglob("*.json")):
        read_json(path, "a JSON configuration")


def check_safetensors(path: str | Path, remedy: str) -> None:
    """A DamagedFileError unless ``path`` is a whole safetensors file: an 8-byte header length, a JSON header, and
    exactly the bytes its tensors' offsets cover (the header only is read; the tensors' bytes need a checksum)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(length)) if 8 + length <= size else None
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        header, end = None, -1
    if header is None or size != 8 + length + end:
        reason = "it is empty" if size == 0 else f"{size} bytes that are not a whole safetensors file"
        raise DamagedFileError(f"{path} is damaged or truncated: {reason}; {remedy}")


def check_weight_files(folder: str | Path, remedy: str) -> None:
    """``check_safetensors`` on every ``*.safetensors`` under ``folder``."""
    for path in sorted(Path(folder).rglob("*.safetensors")):
        check_safetensors(path, remedy)
