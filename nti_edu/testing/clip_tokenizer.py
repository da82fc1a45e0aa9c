"""Stable Diffusion 1.x's real CLIP tokenizer, built offline from the BPE merges that ``open-clip-torch`` ships.

SD 1.x tokenizes with OpenAI CLIP ViT-L/14's byte-level BPE (Radford et al. 2021): 49408 tokens, at most 77
per prompt, start/end ids 49406/49407. The merges live in ``open_clip/bpe_simple_vocab_16e6.txt.gz`` of the
``open-clip-torch`` wheel; the vocabulary is derived from them as CLIP's ``SimpleTokenizer`` does:

1. the 256 byte stand-ins (GPT-2's ``bytes_to_unicode`` alphabet, in its order),
2. the same 256 with ``</w>`` (a byte that ends a word),
3. one token per merge, for the first 49152 - 256 - 2 merges of the file (its first line is a header),
4. ``<|startoftext|>`` and ``<|endoftext|>``.

The wheel is fetched with ``pip download --no-deps`` (open_clip itself needs torchvision, which could replace
the installed torch) into a cache folder, and nothing of it is imported but its ``tokenizer.py`` for tests.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OPEN_CLIP_WHEEL = "open-clip-torch==3.3.0"  # any version ships the same merges file
MERGES_FILE = "bpe_simple_vocab_16e6.txt.gz"
NUM_MERGES = 49152 - 256 - 2  # CLIP's vocabulary budget less the 256 bytes and the 2 special tokens
START, END = "<|startoftext|>", "<|endoftext|>"
VOCAB_SIZE, MAX_LENGTH = 49408, 77


def cache_dir() -> Path:
    """Where the merges file and the built tokenizer are kept: $NTI_EDU_CACHE, else ~/.cache/nti_edu."""
    return Path(os.environ.get("NTI_EDU_CACHE") or Path.home() / ".cache" / "nti_edu")


def byte_level_alphabet() -> list[str]:
    """The 256 printable stand-ins for bytes 0..255 of GPT-2's and CLIP's byte-level BPE, in their order:
    the printable Latin-1 bytes stand for themselves, the others (controls, space) for chr(256 + n)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(extra))]


def open_clip_files() -> Path:
    """A folder holding open_clip's ``bpe_simple_vocab_16e6.txt.gz`` and ``tokenizer.py``.

    An installed open_clip is used as it is (found without importing it); otherwise the wheel is downloaded
    once, without its dependencies, and the two files are extracted into the cache.
    """
    spec = importlib.util.find_spec("open_clip")
    if spec is not None and spec.origin and (Path(spec.origin).parent / MERGES_FILE).exists():
        return Path(spec.origin).parent
    folder = cache_dir() / "open_clip"
    if not (folder / MERGES_FILE).exists():
        _extract_from_wheel(folder)
    return folder


def _extract_from_wheel(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, OPEN_CLIP_WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            raise RuntimeError(f"could not download {OPEN_CLIP_WHEEL} for CLIP's BPE merges ({done.stderr.strip()[-300:]});"
                               f" install it (pip install {OPEN_CLIP_WHEEL} --no-deps) or set NTI_EDU_CACHE to a"
                               f" folder holding open_clip/{MERGES_FILE}")
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in (MERGES_FILE, "tokenizer.py"):
                (folder / f"{name}.part").write_bytes(wheel.read(f"open_clip/{name}"))
                (folder / f"{name}.part").replace(folder / name)  # whole files only, for concurrent sessions


def read_merges(path: str | Path) -> list[tuple[str, str]]:
    """The NUM_MERGES pairs CLIP uses, in rank order (line 1 of the file is a version header)."""
    lines = gzip.open(path).read().decode("utf-8").split("\n")[1:NUM_MERGES + 1]
    return [tuple(line.split()) for line in lines]


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's token -> id map, built from the merges in SimpleTokenizer's order (steps 1-4 of the module text)."""
    alphabet = byte_level_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(pair) for pair in merges] + [START, END]
    return {token: i for i, token in enumerate(tokens)}  # 49408 tokens


def _special(token: str, typed: bool = True) -> dict:
    """A special token as SD's tokenizer files write it: tokenizer_config.json with "__type", special_tokens_map.json
    without (transformers 5 passes that file's entries to the Rust AddedToken as they are, which prints "Ignored
    unknown kwarg option __type" for each)."""
    return {**({"__type": "AddedToken"} if typed else {}), "content": token, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


SD_TOKENIZER_CONFIG = {  # stable-diffusion-v1-5/tokenizer/tokenizer_config.json
    "add_prefix_space": False, "bos_token": _special(START), "do_lower_case": True, "eos_token": _special(END),
    "errors": "replace", "model_max_length": MAX_LENGTH, "name_or_path": "openai/clip-vit-large-patch14",
    "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer", "unk_token": _special(END)}
SD_SPECIAL_TOKENS = {"bos_token": _special(START, False), "eos_token": _special(END, False), "pad_token": END,
                     "unk_token": _special(END, False)}


def built_tokenizer_dir() -> Path:
    """The tokenizer folder (vocab.json, merges.txt and SD's two config files), built once into the cache."""
    folder = cache_dir() / "clip-vit-large-patch14-tokenizer"
    special = folder / "special_tokens_map.json"
    if special.exists() and json.loads(special.read_text()) != SD_SPECIAL_TOKENS:  # built by an earlier version
        tmp = folder / f".special-{os.getpid()}"
        tmp.write_text(json.dumps(SD_SPECIAL_TOKENS, indent=2))
        os.replace(tmp, special)
    if not (folder / "tokenizer_config.json").exists():
        merges = read_merges(open_clip_files() / MERGES_FILE)
        cache_dir().mkdir(parents=True, exist_ok=True)  # not made yet where open_clip is installed
        tmp = Path(tempfile.mkdtemp(dir=cache_dir()))
        (tmp / "vocab.json").write_text(json.dumps(clip_vocab(merges), ensure_ascii=False))
        (tmp / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in merges) + "\n")
        (tmp / "special_tokens_map.json").write_text(json.dumps(SD_SPECIAL_TOKENS, indent=2))
        (tmp / "tokenizer_config.json").write_text(json.dumps(SD_TOKENIZER_CONFIG, indent=2))
        try:
            tmp.rename(folder)  # whole folders only: another process may have built it meanwhile
        except OSError:
            shutil.rmtree(tmp)
    return folder


def write_clip_tokenizer(folder: str | Path) -> Path:
    """Copy SD 1.x's tokenizer files into ``folder`` (a model folder's ``tokenizer/``), as the hub has them."""
    folder = Path(folder)
    shutil.copytree(built_tokenizer_dir(), folder, dirs_exist_ok=True)
    return folder


def load_open_clip_tokenizer():
    """open_clip's own ``SimpleTokenizer`` (the reference), loading its ``tokenizer.py`` alone (it needs ftfy)."""
    folder = open_clip_files()
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", folder / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer(str(folder / MERGES_FILE))
