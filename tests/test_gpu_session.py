"""benchmarks/gpu_session.sh, the one device call of a GPU session, run dry on the CPU (DRY_RUN=1: a tiny UNet,
--quick, the smoke training): every stage runs and leaves its results where the device tool brings them back."""
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from nti_edu.models import load_model

ROOT = Path(__file__).resolve().parents[1]
MAX_FILES_BACK = 8  # the device tool brings back at most 8 files from $OUT
DEFAULT_STAGES = ["sd15", "test", "notebooks"]  # a GPU session's one call; train for a session of its own


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu_session")
    env = os.environ | {"DRY_RUN": "1", "OUT": str(tmp / "out"), "RUN_DIR": str(tmp / "run"),
                        "PYTHON": sys.executable, "DEADLINE": "900"}
    proc = subprocess.run(["bash", "benchmarks/gpu_session.sh", *DEFAULT_STAGES, "train"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, proc.stdout


def test_every_stage_leaves_its_results(dry_run):
    tmp, stdout = dry_run
    out = tmp / "out"
    stages = [line.split()[1].rstrip(":,") for line in stdout.splitlines() if line.startswith("== ")]
    assert stages == [*DEFAULT_STAGES, "train", "done"]
    assert f"stages=({' '.join(DEFAULT_STAGES)})" in (ROOT / "benchmarks" / "gpu_session.sh").read_text()
    speed = (out / "nti_speed_gpu_sd15.md").read_text()
    assert "| official loop (reference) |" in speed and "| readable loop (null_text.py) |" in speed
    assert "A soft time budget of" in speed
    assert "1 passed" in (out / "pytest_gpu.log").read_text()
    assert "torch" in (out / "env.txt").read_text()
    train_log = (out / "train_gpu.log").read_text()
    assert "done:" in train_log and "s/step" in train_log
    assert len(list(out.iterdir())) <= MAX_FILES_BACK


def test_the_notebook_runs_in_both_half_precisions(dry_run):
    """The notebooks stage: notebook 04's SD branch in float16 and bfloat16, a table row each, both ok."""
    tmp, _ = dry_run
    table = (tmp / "out" / "notebooks_gpu.md").read_text()
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| 04_")]
    assert [(r[1].strip(), r[2].strip(), r[5].strip()) for r in rows] == [("float16", "2", "ok"),
                                                                          ("bfloat16", "2", "ok")]
    assert all(int(r[4]) >= 3 for r in rows)  # figures, the dashboard's included


def test_the_trained_model_comes_back_in_parts_and_loads(dry_run):
    tmp, _ = dry_run
    parts = sorted((tmp / "out").glob("embedded.tgz.part-*"))
    assert parts and all(p.stat().st_size <= 15 * 2**20 for p in parts)
    archive = tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts)))
    names = archive.getnames()
    assert "embedded/unet/diffusion_pytorch_model.safetensors" in names and "./unet_log.csv" in names
    archive.extractall(tmp / "back", filter="data")
    model = load_model(str(tmp / "back" / "embedded"))
    assert model.latent_shape == (4, 16, 16)
