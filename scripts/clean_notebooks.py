"""Clean the lecture notebooks before a commit, and stamp their Colab badges and install cells.

    python scripts/clean_notebooks.py            # rewrite notebooks/*.ipynb (and the README's badges) in place
    python scripts/clean_notebooks.py --check    # exit 1 and name the files that are not clean
    python scripts/clean_notebooks.py --execute  # run them top to bottom first (new checked outputs), then clean

Cleaning keeps the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval compares against them;
their execution count becomes the cell's index), drops every other output and execution count, keeps
only the ``tags`` and ``nbgrader`` cell metadata and the kernelspec of the notebook metadata, and
numbers cell ids. The GitHub repository the badges, install cells and links point to is read from
pyproject.toml's ``[project.urls] Repository`` (its one source); the same run stamps it into the README, the
course assignments (source and release, whose nbgrader checksums it updates) and the instructor's guide. A fork
changes that line of pyproject.toml and runs this script.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
ASSIGNMENTS = ROOT / "assignments"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
COLAB_MARK = "# Colab setup"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
README_START, README_END = "<!-- colab-badges:start -->", "<!-- colab-badges:end -->"
KEEP_CELL_METADATA = ("tags", "nbgrader")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def repository(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """owner/name of the GitHub repository written in pyproject.toml's [project.urls] Repository."""
    url = tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w-]+/[\w.-]+?)/?", url)
    if match is None:
        raise ValueError(f"[project.urls] Repository must be https://github.com/OWNER/NAME, got {url!r}")
    return match.group(1)


REPO = repository()  # GitHub owner/name
BRANCH = "main"
# the links that name this repository (group 1: owner/name); links to other repositories are left alone
_NAME = r"([\w-]+/[\w.-]+?)"
REPO_LINKS = [re.compile(pattern.format(name=_NAME)) for pattern in (
    r"colab\.research\.google\.com/github/{name}/blob/",
    r"git\+https://github\.com/{name}(?=[@\"\\\s]|$)",
    r"git clone [^\n]*?https://github\.com/{name}(?=[\s.]|$)",
    r"https://github\.com/{name}/blob/\w+/(?:notebooks|assignments)/")]


def linked_repos(text: str) -> set[str]:
    """Every owner/name that ``text`` links to as this package's repository."""
    return {m.group(1) for pattern in REPO_LINKS for m in pattern.finditer(text)}


def stamp_repo(text: str, repo: str = REPO) -> str:
    """``text`` with every link to this package's repository pointing to ``repo``."""
    def swap(m):
        return m.group(0)[:m.start(1) - m.start(0)] + repo + m.group(0)[m.end(1) - m.start(0):]
    for pattern in REPO_LINKS:
        text = pattern.sub(swap, text)
    return text


def release_text(text: str, repo: str = REPO) -> str:
    """A released assignment's text stamped with ``repo``, the nbgrader checksums of changed cells recomputed."""
    stamped = stamp_repo(text, repo)
    if stamped == text:
        return text
    from nbgrader.utils import compute_checksum

    for old, cell in zip(nbformat.reads(text, as_version=4).cells, nbformat.reads(stamped, as_version=4).cells):
        checksum = cell.metadata.get("nbgrader", {}).get("checksum")
        if checksum and old.source != cell.source:
            stamped = stamped.replace(f'"checksum": "{checksum}"', f'"checksum": "{compute_checksum(cell)}"')
    return stamped


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{path}"


def badge(path: str) -> str:
    """The Markdown "Open in Colab" badge of the notebook at ``path`` (relative to the repository root)."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(path)})"


def colab_setup_source() -> str:
    """The first code cell: installs nti_edu on Colab (and turns its widget support on), nothing elsewhere."""
    return "\n".join([
        f"{COLAB_MARK}: on Google Colab this installs nti_edu; anywhere else it does nothing.",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    %pip install -q "nti_edu[notebooks] @ git+https://github.com/{REPO}@{BRANCH}"',
        "    from google.colab import output",
        "",
        "    output.enable_custom_widget_manager()  # ipywidgets 8 on Colab"])


def stamp_badge(source: str, path: str) -> str:
    """Put the badge on the line after the first heading, replacing an old badge line."""
    lines = [line for line in source.splitlines() if BADGE_IMAGE not in line]
    heading = next((k for k, line in enumerate(lines) if line.startswith("#")), -1)
    lines.insert(heading + 1, "")
    lines.insert(heading + 2, badge(path))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text)


def clean_cell(cell, index: int) -> None:
    cell.id = f"cell-{index:02d}"
    cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
    if cell.cell_type != "code":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        return
    checked = CHECK_MARK in cell.source
    # nbval refuses stored outputs without an execution count: checked cells get their cell index
    cell.execution_count = index if checked else None
    if not checked:
        cell.outputs = []
    for output in cell.outputs:
        if output.get("output_type") == "execute_result":
            output.execution_count = cell.execution_count
        if "metadata" in output:
            output.metadata = {}


def clean_notebook(nb, path: str):
    """Clean ``nb`` (read with nbformat) in place; ``path`` is its path from the repository root."""
    for index, cell in enumerate(nb.cells):
        clean_cell(cell, index)
        if cell.cell_type == "code" and cell.source.startswith(COLAB_MARK):
            cell.source = colab_setup_source()
    first_markdown = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_markdown is not None:
        first_markdown.source = stamp_badge(first_markdown.source, path)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def notebook_text(path: Path) -> str:
    """The cleaned text of the notebook at ``path``."""
    nb = nbformat.read(path, as_version=4)
    clean_notebook(nb, path.resolve().relative_to(ROOT).as_posix())
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def readme_text(text: str, notebooks: list[Path]) -> str:
    """The README with its badge list (between the two markers) written from ``notebooks``."""
    if README_START not in text or README_END not in text:
        return text
    rows = [f"| [{p.stem}](notebooks/{p.name}) | {badge('notebooks/' + p.name)} |" for p in notebooks]
    table = "\n".join(["| notebook | Colab |", "|---|---|", *rows])
    head, rest = text.split(README_START, 1)
    return f"{head}{README_START}\n{table}\n{README_END}{rest.split(README_END, 1)[1]}"


def assignment_texts() -> dict[Path, str]:
    """{file: its text with this repository's links} for the course assignments and the instructor's guide."""
    guide = ASSIGNMENTS / "README.md"
    out = {guide: stamp_repo(guide.read_text())} if guide.is_file() else {}
    out.update({p: stamp_repo(p.read_text()) for p in sorted(ASSIGNMENTS.glob("source/*/*.ipynb"))})
    out.update({p: release_text(p.read_text()) for p in sorted(ASSIGNMENTS.glob("release/*/*.ipynb"))})
    return out


def targets(paths: list[Path]) -> dict[Path, str]:
    """{file: its clean text} for the notebooks given (all of notebooks/ by default), the README and assignments."""
    notebooks = [p.resolve() for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb"))
    out = {p: stamp_repo(notebook_text(p)) for p in notebooks}
    if README.is_file():
        out[README] = stamp_repo(readme_text(README.read_text(), sorted(NOTEBOOKS.glob("*.ipynb"))))
    return {**out, **assignment_texts()}


def execute(path: Path, timeout: int = 900) -> float:
    """Run the notebook at ``path`` top to bottom in place (kernel in its folder); returns the seconds taken."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report files that are not clean")
    parser.add_argument("--execute", action="store_true", help="execute the notebooks before cleaning them")
    args = parser.parse_args(argv)
    if args.execute:
        for path in [p.resolve() for p in args.paths] or sorted(NOTEBOOKS.glob("*.ipynb")):
            print(f"executed {path.name} in {execute(path):.0f} s", flush=True)
    dirty = {p: text for p, text in targets(args.paths).items() if p.read_text() != text}
    if args.check:
        for p in dirty:
            print(f"not clean: {p.relative_to(ROOT)} (run python scripts/clean_notebooks.py)")
        return 1 if dirty else 0
    for p, text in dirty.items():
        p.write_text(text)
        print(f"cleaned {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
