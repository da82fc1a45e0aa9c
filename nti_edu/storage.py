"""Saving and loading an ``InversionResult``: tensors as safetensors, settings as a small JSON file.

A result folder holds ``inversion.safetensors`` (the pivots, the prompt embeddings, the per-step null
embeddings and, for direct inversion, the corrections) and ``inversion.json`` (method, prompts,
settings, losses, timing, the nti_edu version and the fingerprint of the model that made it). Both are
written under temporary names in the same folder and renamed at the end, the JSON last; a random save
id stored in both tells a complete pair from one cut short, so an interrupted save never passes for a
result. An inversion only makes sense with the model that made it: ``check_compatible`` compares
fingerprints.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import __version__
from .result import InversionResult

TENSORS, SETTINGS = "inversion.safetensors", "inversion.json"
FORMAT = 1


def _tensors(result: InversionResult) -> dict[str, torch.Tensor]:
    """The result's tensors stacked for safetensors; a null embedding shared by all steps is stored once."""
    shared = all(e is result.emb_null[0] for e in result.emb_null)
    nulls = result.emb_null[:1] if shared else result.emb_null
    tensors = {"latents": torch.stack(result.latents),  # (N+1, B, C, h, w)
               "emb_cond": result.emb_cond,  # (B, L, D)
               "emb_null": torch.stack(nulls)}  # (N, B, L, D), or (1, B, L, D) when shared
    if result.corrections is not None:
        tensors["corrections"] = torch.stack(result.corrections)  # (N, B, C, h, w)
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def _settings(result: InversionResult, model, save_id: str, shared: bool) -> dict:
    return {"format": FORMAT, "nti_edu_version": __version__, "save_id": save_id, "method": result.method,
            "prompts": list(result.prompts), "num_steps": result.num_steps, "w": result.w,
            "losses": result.losses, "seconds": result.seconds, "settings": result.settings,
            "emb_null_shared": shared, "model": model.fingerprint()}


def save_result(result: InversionResult, folder: str | Path, model) -> Path:
    """Write ``result`` (made with ``model``) to ``folder`` (created if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_id = uuid.uuid4().hex
    tensors = _tensors(result)
    try:
        text = json.dumps(_settings(result, model, save_id, tensors["emb_null"].shape[0] < result.num_steps), indent=2)
    except TypeError as err:
        raise ValueError("the result's settings must be plain JSON values (numbers, strings, lists, dicts): "
                         f"{err}") from err
    tmp = {name: folder / f".{name}.{save_id}.tmp" for name in (TENSORS, SETTINGS)}
    try:
        save_file(tensors, str(tmp[TENSORS]), metadata={"save_id": save_id})
        tmp[SETTINGS].write_text(text + "\n")
        os.replace(tmp[TENSORS], folder / TENSORS)
        os.replace(tmp[SETTINGS], folder / SETTINGS)  # last: the JSON completes the pair
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return folder


def read_settings(folder: str | Path) -> dict:
    """The JSON settings of a saved result, or a FileNotFoundError saying what is missing."""
    folder = Path(folder)
    for name in (TENSORS, SETTINGS):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} holds no saved inversion: {name} is missing "
                                    "(save one with nti_edu.storage.save_result)")
    return json.loads((folder / SETTINGS).read_text())


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
    tensors = load_file(str(folder / TENSORS))
    if _save_id(folder / TENSORS) != settings["save_id"]:
        raise ValueError(f"{folder} holds an incomplete save (its two files come from different saves); save again")
    if model is not None:
        check_compatible(settings, model)
        tensors = {k: v.to(model.device) for k, v in tensors.items()}
    return _result(settings, tensors)


def _save_id(path: Path) -> str | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return (f.metadata() or {}).get("save_id")


def _result(settings: dict, tensors: dict) -> InversionResult:
    N = settings["num_steps"]
    nulls = list(tensors["emb_null"].unbind(0))
    emb_null = nulls * N if settings["emb_null_shared"] else nulls
    corrections = list(tensors["corrections"].unbind(0)) if "corrections" in tensors else None
    return InversionResult(method=settings["method"], prompts=settings["prompts"], num_steps=N, w=settings["w"],
                           latents=list(tensors["latents"].unbind(0)), emb_cond=tensors["emb_cond"],
                           emb_null=emb_null, losses=settings["losses"], seconds=settings["seconds"],
                           settings=settings["settings"], corrections=corrections)
