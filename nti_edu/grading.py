"""The course assignments' checks (``assignments/``): compare an answer with the package, name the mistake it makes,
and make sure it is the student's own work.

``check_close`` compares; when the answer is wrong it computes the part's typical mistakes (the check cell lists
them: {what the mistake is: its output, or a function that computes it}) and names the one the answer matches, or
says honestly that it matches none and where it differs most. Type and shape mistakes are named as such.

``own_work(what, fn, *references)`` is ``fn`` made to fail its check when it calls the package's implementation of
the same part: by its code (names that resolve to a reference, also through the student's own helper functions),
and by running it with the references replaced by a sentinel everywhere in ``nti_edu`` and in the notebook.
"""
from __future__ import annotations

import sys
import types

import torch


class NotOwnWork(AssertionError):
    """An answer that calls the package's implementation of the part it should implement."""


def _as_tensor(what: str, got, expected: torch.Tensor) -> torch.Tensor:
    """``got`` as a tensor of ``expected``'s shape, or an AssertionError that names the type or shape mistake."""
    if got is None:
        raise AssertionError(f"{what}: the answer is None. Most likely: a missing `return` (or the cell that defines "
                             "it was not run)")
    if isinstance(got, (list, tuple)) and expected.dim() > 0 and not all(isinstance(g, (int, float)) for g in got):
        raise AssertionError(f"{what}: a {type(got).__name__} of {len(got)}, expected one tensor of shape "
                             f"{tuple(expected.shape)}. Most likely: a type mistake (return the tensor itself)")
    got = torch.as_tensor(got)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: a shape mistake: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
                             + (" (one value per image: reduce over all but the batch dimension)"
                                if expected.dim() == 1 and got.dim() != 1 else ""))
    return got


def _max_error(got: torch.Tensor, expected: torch.Tensor) -> tuple[float, tuple]:
    """The largest absolute difference (inf where either is not finite) and its index."""
    diff = (got.double() - expected.double()).abs().nan_to_num(nan=float("inf"))
    flat = int(diff.argmax()) if diff.numel() else 0
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.dim() else ()
    return (diff.max().item() if diff.numel() else 0.0), index


def _matches(got: torch.Tensor, wrong, tol: float) -> bool:
    wrong = torch.as_tensor(wrong() if callable(wrong) else wrong)
    if wrong.shape != got.shape:
        return False
    error, _ = _max_error(got.double().nan_to_num(nan=0.0), wrong.double().nan_to_num(nan=0.0))  # nan where it is
    return error <= tol * max(1.0, wrong.double().abs().nan_to_num().max().item() if wrong.numel() else 1.0)


def diagnosis(got: torch.Tensor, mistakes: dict | None, tol: float) -> str | None:
    """The first of ``mistakes`` ({description: output or function computing it}) whose output ``got`` matches."""
    for name, wrong in (mistakes or {}).items():
        try:
            if _matches(got, wrong, tol):
                return name
        except Exception:  # noqa: BLE001 (a mistake that cannot even be computed on these inputs matches nothing)
            continue
    return None


def check_close(what: str, got, expected, rule: str = "", mistakes: dict | None = None, tol: float = 1e-5) -> None:
    """Pass (print ``ok``) when ``got`` is within ``tol`` (relative to the values' size) of ``expected``; otherwise
    fail with the mistake it matches, or with where it differs most and ``rule`` (what the right answer does)."""
    expected = torch.as_tensor(expected)
    got = _as_tensor(what, got, expected)
    error, where = _max_error(got, expected)
    scale = expected.double().abs().max().item() if expected.numel() else 0.0
    if error <= tol * max(1.0, scale):
        print(f"ok: {what}")
        return
    mistake = diagnosis(got, mistakes, tol)
    if mistake is None and not torch.isfinite(got.double()).all():
        mistake = "a nan or inf in the answer: a square root of a negative number or a division by zero"
    if mistake is not None:
        raise AssertionError(f"{what}: off by up to {error:.3g} (values are about {scale:.3g}). Most likely: {mistake}")
    at = f" at index {list(where)}" if where else ""
    raise AssertionError(f"{what}: off by up to {error:.3g}{at} (values are about {scale:.3g}); this does not match a "
                         f"common mistake{' (' + '; '.join(mistakes) + ')' if mistakes else ''}. {rule}".rstrip())


def check_number(what: str, got, expected: float, rule: str, mistakes: dict | None = None, rel: float = 0.02) -> None:
    """A number read off a measurement: within ``rel`` of ``expected``; the message never prints ``expected``."""
    if isinstance(got, torch.Tensor):
        raise AssertionError(f"{what}: a tensor ({tuple(got.shape)}), not a number. Most likely: a type mistake "
                             "(take .item() of a 0-d tensor)")
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise AssertionError(f"{what}: expected a number, got {type(got).__name__}. Most likely: a type mistake "
                             "(or the cell that sets it was not run)")
    if abs(got - expected) <= rel * abs(expected):
        print(f"ok: {what}")
        return
    for name, wrong in (mistakes or {}).items():
        if abs(got - wrong) <= rel * abs(wrong):
            raise AssertionError(f"{what}: wrong ({got:.4g}). Most likely: {name}")
    raise AssertionError(f"{what}: wrong ({got:.4g}; more than {rel:.0%} off); this does not match a common mistake. "
                         f"{rule}")


# -- own work -------------------------------------------------------------------------------------------------
def _names_used(fn, seen: set) -> list:
    """Every object ``fn``'s code names (globals, attributes of modules it names, closures, defaults), and those of
    the functions of its own notebook it calls, recursively."""
    if not isinstance(fn, types.FunctionType) or fn in seen:
        return []
    seen.add(fn)
    codes, names = [fn.__code__], set()
    while codes:
        code = codes.pop()
        names |= set(code.co_names)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    found = [fn.__globals__[n] for n in names if n in fn.__globals__]
    found += [cell.cell_contents for cell in fn.__closure__ or () if _filled(cell)]
    found += list(fn.__defaults__ or ()) + list((fn.__kwdefaults__ or {}).values())
    modules, visited = [m for m in found if _ours(m)], set()
    while modules:  # nti_edu.ddim.ddim_step: the attributes its code names, of the package's modules it names
        module = modules.pop()
        if module.__name__ not in visited:
            visited.add(module.__name__)
            attrs = [getattr(module, n, None) for n in names]
            found += attrs
            modules += [a for a in attrs if _ours(a)]
    for value in list(found):
        if isinstance(value, types.FunctionType) and value.__globals__ is fn.__globals__:
            found += _names_used(value, seen)
    return found


def _ours(value) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__.split(".")[0] == "nti_edu"


def _filled(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _reference_name(reference) -> str:
    return f"{getattr(reference, '__module__', 'nti_edu')}.{getattr(reference, '__qualname__', reference)}"


def _refusal(what: str, reference) -> str:
    return (f"{what} calls the package's own {_reference_name(reference)}, the implementation this part asks you "
            "to write yourself: no points for it. Write the computation with the lower-level pieces the exercise "
            "names")


def _replace_everywhere(references, sentinel_for, extra_namespaces) -> list:
    """Replace each reference by its sentinel in every loaded nti_edu module and in ``extra_namespaces``; the undo
    list of (namespace, name, original)."""
    spaces = [vars(m) for name, m in list(sys.modules.items()) if name.split(".")[0] == "nti_edu" and m is not None]
    undo = []
    for space in spaces + list(extra_namespaces):
        for name, value in list(space.items()):
            for reference in references:
                if value is reference:
                    undo.append((space, name, value))
                    space[name] = sentinel_for(reference)
    return undo


def own_work(what: str, fn, *references):
    """``fn``, to be called as it is, that fails (NotOwnWork) if it calls one of ``references``."""
    for value in _names_used(fn, set()):
        for reference in references:
            if value is reference:
                raise NotOwnWork(_refusal(what, reference))
    called = []

    def sentinel_for(reference):
        def sentinel(*args, **kwargs):
            called.append(reference)
            raise NotOwnWork(_refusal(what, reference))
        return sentinel

    def guarded(*args, **kwargs):
        undo = _replace_everywhere(references, sentinel_for, [fn.__globals__])
        try:
            result = fn(*args, **kwargs)
        finally:
            for space, name, value in reversed(undo):
                space[name] = value
        if called:  # even if the answer caught the sentinel's exception
            raise NotOwnWork(_refusal(what, called[0]))
        return result

    return guarded
