"""environment.yml and pyproject.toml must describe the same environment."""
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI (the dev extra installs it there)
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict:
    """environment.yml, parsed."""
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def project() -> dict:
    """pyproject.toml's [project] table."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_installs_the_package_with_every_extra():
    env = environment()
    pip_entries = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_entries) == 1 and "pip" in env["dependencies"]
    (spec,) = pip_entries[0]
    extras = re.fullmatch(r"-e \.\[(.*)\]", spec).group(1).split(",")
    assert sorted(extras) == sorted(project()["optional-dependencies"])


def test_environment_python_satisfies_requires_python():
    env = environment()
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    major, minor = map(int, python.split("=")[1].split(".")[:2])
    floor = project()["requires-python"]
    assert (major, minor) >= tuple(map(int, floor.lstrip(">=").split(".")))


def test_torch_is_a_range_not_a_pin():
    deps = project()["dependencies"]
    (torch_dep,) = [d for d in deps if d.startswith("torch")]
    assert ">=" in torch_dep and "==" not in torch_dep
