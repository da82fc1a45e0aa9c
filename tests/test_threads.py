"""The thread policy (nti_edu/threads.py): idle OpenMP threads sleep, and torch uses the CPUs this process may use."""
import os
import subprocess
import sys

import pytest

from nti_edu import threads
from nti_edu.cli import main


@pytest.mark.parametrize("text,cpus", [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1),
                                       ("200000 100000\n", 2), ("", None), ("x y", None)])
def test_cgroup_quota(text, cpus):
    assert threads.parse_cpu_max(text) == cpus


def test_cgroup_v1_and_v2_files(tmp_path):
    (tmp_path / "cpu.max").write_text("300000 100000\n")
    assert threads.cgroup_cpus(tmp_path) == 3
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpus(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert threads.cgroup_cpus(tmp_path) == 1


def test_configure_fills_only_what_is_unset():
    env = {}
    assert threads.configure(env) == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(threads.available_cpus())}
    env = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    assert threads.configure(env) == {} and env == {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    env = {"NTI_EDU_THREADS": "3", "OMP_NUM_THREADS": "7"}  # nti_edu's own setting wins
    threads.configure(env)
    assert env["OMP_NUM_THREADS"] == "3" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"NTI_EDU_THREADS": "off"}
    assert threads.configure(env) == {} and env == {"NTI_EDU_THREADS": "off"}
    with pytest.raises(ValueError, match="NTI_EDU_THREADS='two' in the environment: .*whole number >= 1"):
        threads.configure({"NTI_EDU_THREADS": "two"})


def test_available_cpus_respects_the_affinity_mask():
    assert 1 <= threads.available_cpus() <= len(os.sched_getaffinity(0))


def child(code: str, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "NTI_EDU_THREADS"))}
    return subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_nti_edu_first_reaches_torch():
    """Set before torch starts its OpenMP pool; with torch imported first the policy is too late (reported)."""
    first = child("import nti_edu, os, torch; print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads(), "
                  "nti_edu.threads.torch_first())", NTI_EDU_THREADS="1")
    assert first == "PASSIVE 1 False"
    late = child("import torch, nti_edu; print(nti_edu.threads.torch_first())")
    assert late == "True"


def test_cli_threads_option(monkeypatch, capsys):
    import nti_edu.cli as cli

    calls = []
    monkeypatch.setattr(cli, "set_threads", calls.append)
    assert main(["invert", "--threads", "0", "x.png", "--prompt", "p", "--out", "o"]) == 2
    assert "expected a whole number >= 1, got '0'" in capsys.readouterr().err
    assert main(["sweep", "--threads", "1", "nowhere.png", "--prompt", "p", "--out", "o"]) == 2  # set, then no image
    assert calls == [1]


def test_set_threads_for_children_and_torch():
    env = {}
    threads.set_threads(1, env)
    assert env == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert child("import nti_edu.threads as t, torch; t.set_threads(1); print(torch.get_num_threads())") == "1"
