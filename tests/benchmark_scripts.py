"""Load a script of benchmarks/ as a module, as the tests of the reports do."""
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str, register: bool = False):
    """benchmarks/<name>.py as a module. ``register``: also keep it in sys.modules under its name (dataclasses
    look their module up there; the caller removes it). Otherwise the null-text report, which other scripts
    import, is dropped from sys.modules afterwards, so that each test module loads its own."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    if not register:
        sys.modules.pop("null_text_report", None)
    return module
