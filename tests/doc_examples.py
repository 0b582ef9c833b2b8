"""The examples of the documentation (README.md and docs/*.md), read and run as written.

A fenced block's language says what it is: ```` ```bash ```` and ```` ```python ```` are examples
to run, ```` ```text ```` output listings, ```` ```toml ````/```` ```yaml ````/```` ```json ```` file
contents. tests/test_docs_examples.py runs every bash and python block of every page, in order,
in one fresh directory per page where ``data/`` is the repository's. A block preceded by the line

    <!-- example: run by tests/test_NAME.py -->

is left to that test (it needs torch, or checks more than success): the test finds its blocks
with ``tagged_blocks(page, "tests/test_NAME.py")`` — test_docs_examples.py checks that the named
file exists and calls ``tagged_blocks`` with the page's name, so no example goes unrun.

Running: a bash block runs line by line (a line ending in ``\\`` continues on the next), each in
``bash -c`` with the test's Python environment first on PATH; a line whose comment says ``# exit N``
must exit with status N, every other line with 0. A python block runs statement by statement in
one namespace per page; an expression statement whose ``# comment`` starts with a Python literal
(``# 138357544``, ``# 'Vgg': the class``, ``# [2, 1000] ...``) must evaluate to that value.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = re.compile(r"<!-- example: run by (tests/test_\w+\.py) -->")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
LANGUAGES = {"bash", "python", "text", "toml", "yaml", "json"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    run_by: str | None  # "tests/test_x.py" when tagged

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` in order (indented ones, in list items, dedented)."""
    lines = page.read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            if lines[j].strip().startswith("```") and lines[j].strip()[3:4].isalpha() and lang in ("bash", "python"):
                raise AssertionError(f"{page.relative_to(ROOT)}:{j + 1}: a fence opens inside the block of line {i + 1}")
            j += 1
        if j == len(lines):
            raise AssertionError(f"{page.relative_to(ROOT)}:{i + 1}: a fence that is never closed")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:j]]
        prev = lines[i - 1].strip() if i > 0 else ""
        tag = TAG.fullmatch(prev)
        out.append(Block(page, i + 1, lang, "\n".join(body) + "\n", tag.group(1) if tag else None))
        i = j + 1
    return out


def tagged_blocks(page: Path | str, test_file: str) -> list[Block]:
    """The bash and python blocks of ``page`` (a path, or a name relative to the repository) that
    carry ``<!-- example: run by <test_file> -->``; ``test_file`` as written there
    ("tests/test_x.py")."""
    path = page if isinstance(page, Path) else ROOT / page
    found = [b for b in blocks(path) if b.run_by == test_file and b.lang in ("bash", "python")]
    assert found, f"{path.relative_to(ROOT)} has no example tagged 'run by {test_file}'"
    return found


def env() -> dict[str, str]:
    """The environment bash examples run in: this Python's scripts (archsweep, python) first."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def bash_lines(code: str) -> list[str]:
    """The commands of a bash block: comment-only and blank lines dropped, continuations joined."""
    out: list[str] = []
    pending = ""
    for line in code.splitlines():
        if pending:
            pending += "\n" + line
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        else:
            pending = line
        if not pending.endswith("\\"):
            out.append(pending)
            pending = ""
    assert not pending, f"a continued line with nothing after it: {pending}"
    return out


def run_bash(block: Block, where: Path, timeout: int = 600) -> None:
    for line in bash_lines(block.code):
        m = re.search(r"#\s*exit (\d+)", line)
        want = int(m.group(1)) if m else 0
        r = subprocess.run(["bash", "-c", line], cwd=where, capture_output=True, text=True, env=env(), timeout=timeout)
        assert r.returncode == want, (
            f"{block.where()}: exit status {r.returncode}, not {want}: {line}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        if r.returncode:
            assert "Traceback" not in r.stderr, f"{block.where()}: {line}\n{r.stderr}"


def stated_value(comment: str, namespace: dict | None = None) -> tuple | None:
    """The value a comment states, as a 1-tuple, if the comment starts with one: the whole comment
    or its text before the first ':', ' (', ' —', '; ' or ', ' must be a Python literal (or, given a namespace,
    an expression evaluated in it). None if it does not start with a value."""
    candidates = [comment.strip()]
    for sep in (":", " (", " —", "; ", ", "):
        if sep in comment:
            candidates.append(comment.split(sep, 1)[0].strip())
    for text in candidates:
        if not text:
            continue
        try:
            return (ast.literal_eval(text),)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
        if namespace is not None:
            try:
                return (eval(text, namespace),)  # noqa: S307 - the documentation's own text
            except Exception:  # noqa: BLE001
                continue
    return None


def run_python(block: Block, namespace: dict, where: Path, names_in_comments: bool = False) -> int:
    """Run the block in ``namespace`` with ``where`` as the working directory; returns how many
    stated values were checked."""
    checked = 0
    lines = block.code.splitlines()
    filename = block.where()
    old = Path.cwd()
    os.chdir(where)
    try:
        for node in ast.parse(block.code, filename).body:
            exec(compile(ast.Module([node], []), filename, "exec"), namespace)  # noqa: S102
            last = lines[node.end_lineno - 1]
            if not isinstance(node, ast.Expr) or "  # " not in last:
                continue
            stated = stated_value(last.split("  # ", 1)[1], namespace if names_in_comments else None)
            if stated is None:
                continue
            value = eval(compile(ast.Expression(node.value), filename, "eval"), namespace)  # noqa: S307
            assert value == stated[0], f"{filename}: {lines[node.lineno - 1].strip()} is {value!r}, the comment says {stated[0]!r}"
            checked += 1
    finally:
        os.chdir(old)
    return checked


def run_blocks(blocks_: list[Block], where: Path, names_in_comments: bool = False) -> int:
    """Run bash and python blocks in order in ``where`` (data/ linked in first); returns the
    number of stated values checked."""
    if not (where / "data").exists():
        (where / "data").symlink_to(ROOT / "data")
    namespace: dict = {"__name__": "doc_example"}
    checked = 0
    for b in blocks_:
        if b.lang == "bash":
            run_bash(b, where)
        elif b.lang == "python":
            checked += run_python(b, namespace, where, names_in_comments)
    return checked
