"""Weight files that transformers 4 and 5 both read as the same model.

transformers 5 saves ``CLIPTextModel`` with its keys starting at the encoder ("embeddings.", "encoder.");
transformers 4 expects them under "text_model.", as Stable Diffusion's checkpoints on the hub store them,
and would leave an unprefixed encoder randomly initialised (with a warning only). Both versions read the
prefixed layout to the same values, so every text encoder the package writes uses it.
"""
from __future__ import annotations

from pathlib import Path

PREFIX = "text_model."


def write_portable_text_encoder(folder: str | Path) -> None:
    """Rewrite the safetensors files in ``folder`` (a saved CLIPTextModel) with their keys under "text_model."."""
    from safetensors.torch import load_file, save_file

    for path in Path(folder).glob("*.safetensors"):
        state = {k if k.startswith(PREFIX) else PREFIX + k: v for k, v in load_file(path).items()}
        save_file(state, path, metadata={"format": "pt"})
