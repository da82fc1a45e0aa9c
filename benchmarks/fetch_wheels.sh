#!/usr/bin/env bash
# What the lent GPU machine lacks, fetched here into .whl/ (git-ignored) for the device tool to carry
# (run(..., carry=[".whl"])). Its image has torch, transformers, tokenizers, safetensors, huggingface-hub, numpy,
# Pillow, matplotlib, tqdm, regex, requests, filelock, attrs, packaging, psutil, pygments, python-dateutil,
# typing_extensions and pytest (/work/.library/device/KINDS.md), but not:
#  - diffusers 0.42.1 (its other needs are there; importlib_metadata is imported on Python < 3.8 only, carried so
#    that its requirements are met);
#  - what executing a notebook takes (gpu_session.sh's `notebooks` stage): nbclient, nbformat, ipykernel, ipywidgets
#    and their requirements not on the image (the closure pip resolves for these versions, less the image's);
#  - the CLIP tokenizer's BPE merges (open-clip-torch's wheel, for the SD-1.5 stand-in's real tokenizer), put into
#    .whl/nti_cache, which gpu_session.sh names as NTI_EDU_CACHE (nothing can be downloaded there).
# See /work/.library/device/README.md ("a Python package missing there") and benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
NOTEBOOK_WHEELS=(nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0 ipywidgets==8.1.9 matplotlib_inline==0.2.2
  asttokens==3.0.2 comm==0.2.3 debugpy==1.8.22 executing==2.3.0 fastjsonschema==2.22.3 ipython==9.18.1
  ipython_pygments_lexers==1.1.1 jedi==0.20.1 jsonschema==4.26.0 jsonschema_specifications==2025.9.1
  jupyter_client==8.10.0 jupyter_core==5.9.1 jupyterlab_widgets==3.0.17 nest_asyncio2==1.7.4 parso==0.8.7
  pexpect==4.9.0 platformdirs==4.14.9 prompt_toolkit==3.0.53 ptyprocess==0.7.0 pure_eval==0.2.4 pyzmq==27.3.0
  referencing==0.37.0 rpds_py==2026.9.1 stack_data==0.6.3 tornado==6.6.1 traitlets==5.16.1 wcwidth==0.9.4
  widgetsnbextension==4.0.16)
PYTHON_VERSION=${PYTHON_VERSION:-3.12}  # the GPU image's; tests/test_gpu_session.py rehearses with this machine's
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl diffusers==0.42.1 importlib_metadata==8.7.0 "${NOTEBOOK_WHEELS[@]}"
NTI_EDU_CACHE=.whl/nti_cache python3 -c "from nti_edu.testing.clip_tokenizer import open_clip_files; open_clip_files()"
ls .whl .whl/nti_cache/*; du -sh .whl
