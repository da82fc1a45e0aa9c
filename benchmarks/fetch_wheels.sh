#!/usr/bin/env bash
# Wheels that the lent GPU machine lacks, downloaded here into .whl/ (git-ignored) for the device tool to
# carry. Its image has torch, transformers, tokenizers, safetensors, huggingface-hub (1.33), numpy, Pillow,
# tqdm, regex, requests, filelock and pytest, but not diffusers. diffusers 0.42.1 needs, besides those,
# only importlib_metadata (imported on Python < 3.8 only; carried so that its requirements are met).
# See /work/.library/device/README.md ("a Python package missing there") and benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl diffusers==0.42.1 importlib_metadata==8.7.0
ls -l .whl
