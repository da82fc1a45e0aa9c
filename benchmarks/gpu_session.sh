#!/usr/bin/env bash
# The GPU work of issues 7 (fast null-text inversion) and 3 (the embedded model's GPU training), for a
# session that is lent a GPU machine: ONE device call that always ends with results in $OUT.
#
# A lent GPU has 15 minutes of device time per session, its start (a minute or two) and idle waits included,
# and one call runs at most 10 minutes. So, here, once:   bash benchmarks/fetch_wheels.sh   (diffusers' wheel)
# then:   run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)   and give_back().
#
# The default stages, "sd15 test notebooks", share a deadline of DEADLINE seconds (default 560) from the start
# of this script; each stage gets a soft budget and a hard `timeout`, and writes its results as it goes:
#   sd15      benchmarks/nti_speed.py on SD 1.5's UNet (random weights), soft budget SD15_SECONDS (240): the
#             official loop and the target row (bf16 weights, CUDA graphs) first, then the readable loop,
#             batches 1/4/16, the other rows while the budget lasts; the table is rewritten after every row
#   test      tests/test_fast_null_text.py on the GPU: CUDA graphs (fp32, bf16) against the plain loop and the
#             late-read early stop in float64, which CPU CI skips (at most TEST_SECONDS, 120)
#   notebooks issue 27: notebook 04's Stable Diffusion branch (MODEL = "sd15", MY_IMAGES a local file and a URL
#             served on 127.0.0.1) executed in a Jupyter kernel on CUDA by nti_edu.testing.notebooks, with the
#             SD-1.5 stand-in at SD 1.5's real widths (random weights, drawn on the GPU), in float16 then
#             bfloat16, NOTEBOOK_STEPS (10) DDIM steps x NOTEBOOK_INNER (10) Adam iterations; a table row per
#             run in notebooks_gpu.md (at most NOTEBOOKS_SECONDS, 170, for the build and both runs)
# Other stages, for a session of their own:
#   train     the embedded model's training with a wall-clock budget (python -m nti_edu.train --minutes):
#             whatever is left before the deadline, less a reserve for the export; the model folder comes back
#             as embedded.tgz.part-* (unpack: mkdir -p /tmp/gpu && cat embedded.tgz.part-* | tar xz -C /tmp/gpu)
#   embedded  the benchmark on the embedded model;   compile: sd15 with a torch.compile row.
# Results (8 files at most come back): env.txt (nvidia-smi, versions), nti_speed_gpu_*.md and .log,
# pytest_gpu.log, notebooks_gpu.md, train_gpu.log, embedded.tgz.part-* (the model and its loss logs).
#
# DRY_RUN=1 runs the same plumbing on the CPU in a minute or two (tiny UNet, --quick, the smoke training, the
# notebook on a tiny random SD, no wheels): tests/test_gpu_session.py does, so that a GPU session's one call
# does not fail on a typo.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/nti_out}
PY=${PYTHON:-python3}
DRY_RUN=${DRY_RUN:-0}
DEADLINE=${DEADLINE:-560}
RUN_DIR=${RUN_DIR:-runs/embedded_gpu}  # the training's run folder; the model is exported to $RUN_DIR/embedded
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

left() { echo $(( DEADLINE - SECONDS )); }
until_stop() { echo $(( stop - SECONDS > 1 ? stop - SECONDS : 1 )); }  # the notebooks stage's (timeout 0: none)
capped() { local want=$1 rest; rest=$(left); echo $(( want < rest ? want : rest )); }  # seconds, within the deadline

if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu; SPEED_ARGS=(--sd15-unet tiny --quick); TRAIN_ARGS=(--smoke); TEST_FILTER=(-k graph_runner_bookkeeping)
  STANDIN=(-c "import sys; from nti_edu.testing.random_init import save_random_sd; save_random_sd(sys.argv[1])")
  NOTEBOOK_STEPS=2; NOTEBOOK_INNER=2
else
  DEVICE=cuda; SPEED_ARGS=(--repeats "${REPEATS:-1}"); TEST_FILTER=()
  STANDIN=(-m nti_edu.testing --widths sd15 --device cuda)  # the folder is the last argument
  NOTEBOOK_STEPS=${NOTEBOOK_STEPS:-10}; NOTEBOOK_INNER=${NOTEBOOK_INNER:-10}
  TRAIN_ARGS=(--bf16 --workers 12 --vae-steps "${VAE_STEPS:-6000}" --vae-batch 64 --vae-lr 1e-3
              --vae-locality "${VAE_LOCALITY:-0.5}" --unet-steps "${UNET_STEPS:-30000}" --unet-batch 256
              --unet-lr 5e-4 --warmup-steps 500 --decoder-steps "${DECODER_STEPS:-3000}" --calibration-steps 100 --checkpoint-every 500
              --log-every 100)
  # -- install: the carried wheels (diffusers), and the checkout itself on the path ------------------------
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || { echo "no wheels in .whl/: run benchmarks/fetch_wheels.sh here and carry .whl"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD NTI_EDU_CACHE=$PWD/.whl/nti_cache  # CLIP's BPE merges, carried (fetch_wheels.sh)
  nvidia-smi > "$OUT/env.txt" 2>&1
fi
$PY -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__,
'transformers', transformers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" \
    | tee -a "$OUT/env.txt" || exit 1

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(sd15 test notebooks)
for stage in "${stages[@]}"; do
  echo "== $stage: $(left) s left before the deadline"
  case "$stage" in
    sd15)
      budget=$(capped "${SD15_SECONDS:-240}")
      timeout "$(capped $(( budget + 30 )))" $PY benchmarks/nti_speed.py --device $DEVICE --skip-embedded --budget "$budget" \
        "${SPEED_ARGS[@]}" --out "$OUT/nti_speed_gpu_sd15.md" 2>&1 | tee "$OUT/nti_speed_gpu_sd15.log" ;;
    test)
      timeout "$(capped "${TEST_SECONDS:-120}")" $PY -m pytest tests/test_fast_null_text.py -q -rs -p no:cacheprovider \
        "${TEST_FILTER[@]}" 2>&1 | tee "$OUT/pytest_gpu.log" ;;
    notebooks)
      stop=$(( SECONDS + $(capped "${NOTEBOOKS_SECONDS:-170}") ))
      standin=/tmp/nti_edu_sd15_standin; rm -rf "$standin"; t0=$SECONDS
      timeout "$(until_stop)" $PY "${STANDIN[@]}" "$standin" > /dev/null \
        || { echo "notebooks: the stand-in was not written" | tee "$OUT/notebooks_gpu.md"; continue; }
      echo "stand-in ($(du -sh "$standin" | cut -f1)) written in $(( SECONDS - t0 )) s" | tee "$OUT/notebooks_gpu.md"
      for dtype in float16 bfloat16; do
        timeout "$(until_stop)" $PY -m nti_edu.testing.notebooks 04_null_text_inversion --model "$standin" \
          --dtype $dtype --steps "$NOTEBOOK_STEPS" --inner-steps "$NOTEBOOK_INNER" 2>&1 | tee -a "$OUT/notebooks_gpu.md"
      done ;;
    train)
      # the budget: what is left, less 40 s for the export and the archive; TRAIN_MINUTES overrides it
      minutes=${TRAIN_MINUTES:-$(awk -v s="$(left)" 'BEGIN { printf "%.2f", (s - 40) / 60 }')}
      if awk -v m="$minutes" 'BEGIN { exit !(m < 0.5) }'; then
        echo "train: skipped, ${minutes} min left"; continue
      fi
      rm -rf "$RUN_DIR/embedded"
      timeout "$(left)" $PY -m nti_edu.train --device $DEVICE "${TRAIN_ARGS[@]}" --minutes "$minutes" \
        --out "$RUN_DIR" --export "$RUN_DIR/embedded" 2>&1 | tr '\r' '\n' | grep -v "it/s]$" > "$OUT/train_gpu.log"
      grep -E "s/step|^done" "$OUT/train_gpu.log"; tail -3 "$OUT/train_gpu.log"
      if [ -f "$RUN_DIR/embedded/checksums.json" ]; then
        # the model folder (~23 MB) and the loss logs come back in parts of at most 15 MB (8 files at most
        # come back from a call, so the logs travel inside): embedded/ and *_log.csv
        (cd "$RUN_DIR" && tar czf - embedded ./*_log.csv) | split -b 15M - "$OUT/embedded.tgz.part-"
      fi ;;
    embedded)
      timeout "$(capped 300)" $PY benchmarks/nti_speed.py --device $DEVICE --skip-sd15 --repeats 3 \
        "${SPEED_ARGS[@]}" --out "$OUT/nti_speed_gpu_embedded.md" 2>&1 | tee "$OUT/nti_speed_gpu_embedded.log" ;;
    compile)
      timeout "$(capped 560)" $PY benchmarks/nti_speed.py --device $DEVICE --skip-embedded --repeats 1 --compile \
        --batches 1 "${SPEED_ARGS[@]}" --out "$OUT/nti_speed_gpu_compile.md" 2>&1 | tee "$OUT/nti_speed_gpu_compile.log" ;;
    *)
      echo "unknown stage $stage (sd15, test, notebooks, train, embedded, compile)"; exit 2 ;;
  esac
done
echo "== done, $(left) s before the deadline"
