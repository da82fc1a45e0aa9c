"""The notebooks' Colab install, rehearsed: a fresh virtual environment that has torch already (as Colab's image
does), then the first cell's ``%pip install`` line with its GitHub URL swapped for this checkout's git URL.

pip must neither fail nor replace torch (a CUDA torch pulled in over Colab's would cost minutes and gigabytes,
or break the runtime), and nti_edu must then import and load the SD-1.5 stand-in. Slow: it installs
every dependency into the new environment (minutes); run with --runslow.
"""
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
CHECK = """
import sys, torch, nti_edu
from nti_edu.models import load_model
from nti_edu.testing import save_sd15_standin
model = load_model(str(save_sd15_standin(sys.argv[1], seed=0)))
emb = model.encode_prompt("a photo of a cat")  # (1, 77, 768)
print(nti_edu.__file__, model.image_size, tuple(emb.shape), model.dtype)
"""


def install_lines_by_notebook() -> dict[str, list[str]]:
    """The ``%pip install`` lines of each notebook's first code cell."""
    lines = {}
    for path in NOTEBOOKS:
        cell = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        lines[path.name] = [m.strip() for m in re.findall(r"^\s*%pip install .*$", "".join(cell["source"]), re.M)]
    return lines


def install_lines() -> set[str]:
    """The distinct ``%pip install`` lines of the notebooks' first code cells."""
    return {line for lines in install_lines_by_notebook().values() for line in lines}


def run(*cmd, cwd=None) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_every_notebook_installs_the_same_way():
    by_notebook = install_lines_by_notebook()
    assert len(by_notebook) >= 7, sorted(by_notebook)  # 01 to 07 at least: the glob found the course
    assert all(len(lines) == 1 for lines in by_notebook.values()), by_notebook  # each installs, once
    lines = install_lines()
    assert len(lines) == 1, lines  # and all the same way
    assert re.search(r'"nti_edu\[notebooks\] @ git\+https://\S+"', lines.pop())


@pytest.mark.slow
def test_colab_install_keeps_torch_and_loads_the_standin(tmp_path):
    line = install_lines().pop()
    head = run("git", "rev-parse", "HEAD", cwd=ROOT).strip()  # what is committed, as GitHub would serve it
    args = [re.sub(r"git\+https://\S+", f"git+file://{ROOT}@{head}", a) for a in shlex.split(line)[2:]]
    assert args[-1].startswith("nti_edu[notebooks] @ git+file://")
    venv, torch_version = tmp_path / "colab", torch.__version__.split("+")[0]
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--upgrade", "pip")  # Colab's pip is recent; venv's bundled one is not
    run(python, "-m", "pip", "install", "-q", f"torch=={torch_version}")  # Colab's image has torch installed
    probe = ("import torch, importlib.metadata as m; "
             "print(torch.__version__, torch.version.cuda, m.distribution('torch')._path)")
    before = run(python, "-c", probe)
    run(python, "-m", "pip", "install", *args, cwd=tmp_path)  # the notebooks' line, on this checkout's HEAD
    assert run(python, "-c", probe) == before  # the same torch build, same files: pip did not replace it
    out = run(python, "-c", CHECK, tmp_path / "standin", cwd=tmp_path).splitlines()[-1].split()
    assert str(venv) in out[0] and out[1:] == ["512", "(1,", "77,", "768)", "torch.float32"]
