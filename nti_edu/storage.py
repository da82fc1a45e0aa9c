"""Saving and loading an ``InversionResult``: tensors as safetensors, settings as a small JSON file.

A result folder holds ``inversion.safetensors`` (the pivots, the prompt embeddings, the per-step null
embeddings and, for direct inversion, the corrections) and ``inversion.json`` (method, prompts,
settings, losses, timing, the nti_edu version, the fingerprint of the model that made it and the SHA-256
of the tensors file). Both are written under temporary names in the same folder and renamed at the end,
the JSON last; a random save id stored in both tells a complete pair from one cut short, so an
interrupted save never passes for a result, and the checksum refuses a tensors file damaged or changed
afterwards (a few flipped bytes would otherwise load as other numbers). Every other damage (truncated,
empty, of another kind) is a one-line ``DamagedFileError`` that names the file. An inversion only makes
sense with the model that made it: ``check_compatible`` compares fingerprints.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import torch
from safetensors.torch import load, save

from . import __version__
from .files import DamagedFileError, check_sha256, read_json
from .result import InversionResult

TENSORS, SETTINGS = "inversion.safetensors", "inversion.json"
FORMAT = 1
REQUIRED = {"format": int, "save_id": str, "method": str, "prompts": list, "num_steps": int, "w": (int, float),
            "emb_null_shared": bool, "model": dict}  # the settings' keys load_result needs, with their types
RESAVE = "invert the image again (the folder cannot be repaired)"


def _tensors(result: InversionResult) -> dict[str, torch.Tensor]:
    """The result's tensors stacked for safetensors; a null embedding shared by all steps is stored once."""
    shared = all(e is result.emb_null[0] for e in result.emb_null)
    nulls = result.emb_null[:1] if shared else result.emb_null
    tensors = {"latents": torch.stack(result.latents[::-1]),  # (N+1, B, C, h, w), on disk cleanest first (format 1)
               "emb_cond": result.emb_cond,  # (B, L, D)
               "emb_null": torch.stack(nulls)}  # (N, B, L, D), or (1, B, L, D) when shared
    if result.corrections is not None:
        tensors["corrections"] = torch.stack(result.corrections)  # (N, B, C, h, w)
    if result.emb_conds is not None:
        tensors["emb_conds"] = torch.stack(result.emb_conds)  # (N, B, L, D): textual inversion's C_t
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def _settings(result: InversionResult, model, save_id: str, shared: bool, digest: str) -> dict:
    return {"format": FORMAT, "nti_edu_version": __version__, "save_id": save_id, "method": result.method,
            "prompts": list(result.prompts), "num_steps": result.num_steps, "w": result.w,
            "losses": result.losses, "seconds": result.seconds, "settings": result.settings,
            "emb_null_shared": shared, "model": model.fingerprint(), "tensors_sha256": digest}


def save_result(result: InversionResult, folder: str | Path, model) -> Path:
    """Write ``result`` (made with ``model``) to ``folder`` (created if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_id = uuid.uuid4().hex
    tensors = _tensors(result)
    data = save(tensors, metadata={"save_id": save_id})  # the file's bytes (safetensors' save_file writes mode 0600)
    shared = tensors["emb_null"].shape[0] < result.num_steps
    try:
        settings = _settings(result, model, save_id, shared, hashlib.sha256(data).hexdigest())
        digest = settings_digest(json.loads(json.dumps(settings)))  # of the values as they will be read back
        text = json.dumps(settings | {"settings_sha256": digest}, indent=2)
    except TypeError as err:
        raise ValueError("the result's settings must be plain JSON values (numbers, strings, lists, dicts): "
                         f"{err}") from err
    tmp = {name: folder / f".{name}.{save_id}.tmp" for name in (TENSORS, SETTINGS)}
    try:
        tmp[TENSORS].write_bytes(data)  # a new file: mode 0666 less the umask, as every other output
        tmp[SETTINGS].write_text(text + "\n")
        os.replace(tmp[TENSORS], folder / TENSORS)
        os.replace(tmp[SETTINGS], folder / SETTINGS)  # last: the JSON completes the pair
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return folder


def read_settings(folder: str | Path) -> dict:
    """The JSON settings of a saved result; a FileNotFoundError saying what is missing, or a DamagedFileError
    naming the file when it is not the settings of a saved inversion."""
    folder = Path(folder)
    for name in (TENSORS, SETTINGS):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} holds no saved inversion: {name} is missing "
                                    "(save one with nti_edu.storage.save_result)")
    path = folder / SETTINGS
    settings = read_json(path, "the settings of a saved inversion")
    digest = settings.pop("settings_sha256", None)  # saves made before checksums have neither checksum
    if (digest or "tensors_sha256" in settings) and digest != settings_digest(settings):
        raise DamagedFileError(f"{path} does not match its recorded SHA-256 checksum: it was damaged or changed "
                               f"after it was written; {RESAVE}")
    for key, kind in REQUIRED.items():
        if not _has_type(settings.get(key), kind):
            raise DamagedFileError(f"{path} is not the settings of a saved inversion: {key!r} is missing or not a "
                                   f"{getattr(kind, '__name__', 'number')}; {RESAVE}")
    return settings


def settings_digest(settings: dict) -> str:
    """The SHA-256 of the settings' canonical JSON (sorted keys, no spaces): recorded in inversion.json itself."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _has_type(value, kind) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))  # True is not a number here


def check_compatible(result_settings: dict, model) -> None:
    """Raise a ValueError when the saved inversion was made with another model than ``model``."""
    saved = result_settings.get("model")
    current = json.loads(json.dumps(model.fingerprint()))  # the same JSON round trip the saved one went through
    if saved != current:
        differ = sorted(k for k in set(saved or {}) | set(current) if (saved or {}).get(k) != current.get(k))
        raise ValueError(f"this inversion was made with the model {(saved or {}).get('name')!r}, not with "
                         f"{current.get('name')!r} (they differ in: {', '.join(differ)}); invert the image again "
                         "with this model")


def load_result(folder: str | Path, model=None) -> InversionResult:
    """Read a result saved by ``save_result``; with ``model``, check it matches and move tensors to its device."""
    folder = Path(folder)
    settings = read_settings(folder)
    if settings.get("format") != FORMAT:
        raise ValueError(f"{folder / SETTINGS} has format {settings.get('format')!r}; "
                         f"this nti_edu reads format {FORMAT}")
    tensors = read_tensors(folder / TENSORS, settings)
    check_shapes(folder / TENSORS, tensors, settings)
    if model is not None:
        check_compatible(settings, model)
        tensors = {k: v.to(model.device) for k, v in tensors.items()}
    return _result(settings, tensors)


def read_tensors(path: Path, settings: dict) -> dict:
    """The tensors of a saved inversion's tensors file, checked against its settings: the same save, the
    recorded checksum (saves made before checksums have none), else a one-line error naming the file."""
    data = path.read_bytes()
    try:
        tensors = load(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])  # safetensors: length, JSON header
        save_id = (header.get("__metadata__") or {}).get("save_id")
    except Exception as err:  # safetensors' SafetensorError, a header that is not JSON, ...
        reason = "it is empty" if not data else f"{len(data)} bytes that are not a safetensors file ({err})"
        raise DamagedFileError(f"{path} is damaged or truncated: {reason}; {RESAVE}") from None
    if save_id != settings["save_id"]:
        raise ValueError(f"{path.parent} holds an incomplete save: its {TENSORS} and {SETTINGS} come from different "
                         f"saves (an interrupted save, or a damaged file); {RESAVE}")
    if settings.get("tensors_sha256") is not None:
        check_sha256(path, settings["tensors_sha256"], RESAVE, data)
    return tensors


def check_shapes(path: Path, tensors: dict, settings: dict) -> None:
    """A DamagedFileError unless the tensors are those of ``settings``: N + 1 latents, N (or 1) null embeddings."""
    N, B = settings["num_steps"], len(settings["prompts"])
    expected = {"latents": N + 1, "emb_cond": B, "emb_null": 1 if settings["emb_null_shared"] else N}
    expected |= {"emb_conds": N} if "emb_conds" in tensors else {}  # textual inversion's C_t, one per step
    for name, first in expected.items():
        if name not in tensors or tensors[name].ndim < 3 or tensors[name].shape[0] != first:
            got = tuple(tensors[name].shape) if name in tensors else "nothing"
            raise DamagedFileError(f"{path} does not hold the tensors of {SETTINGS}: {name!r} should have {first} "
                                   f"rows for {N} steps and {B} image(s), got {got}; {RESAVE}")


def _result(settings: dict, tensors: dict) -> InversionResult:
    N = settings["num_steps"]
    nulls = list(tensors["emb_null"].unbind(0))
    emb_null = nulls * N if settings["emb_null_shared"] else nulls
    corrections = list(tensors["corrections"].unbind(0)) if "corrections" in tensors else None
    emb_conds = list(tensors["emb_conds"].unbind(0)) if "emb_conds" in tensors else None
    return InversionResult(method=settings["method"], prompts=settings["prompts"], num_steps=N, w=settings["w"],
                           latents=list(tensors["latents"].unbind(0))[::-1], emb_cond=tensors["emb_cond"],
                           emb_null=emb_null, losses=settings["losses"], seconds=settings["seconds"],
                           settings=settings["settings"], corrections=corrections, emb_conds=emb_conds)
