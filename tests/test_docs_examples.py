"""Every example of README.md and docs/*.md runs as written (tests/doc_examples.py says how a
block is read and run), the README fits its budget, links lead to pages and headings that exist,
and the numbers the pictures' captions quote are the ones the code gives today.

Truth: the documentation's own statements (a value written in a comment, a caption's number) are
compared with what archsweep computes now; the VGG16 caption's shares are recomputed here from the
per-layer counts, which tests/test_ops.py holds to the hand-derived seed table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import tomllib
from doc_examples import FENCE, LANGUAGES, ROOT, TAG, blocks, env, pages, run_blocks, tagged_blocks

import archsweep

README = ROOT / "README.md"
PAGES = pages()

#: Pages the README and docs link to that other branches of the current round add (their
#: helpers write them); the lead removes a name from this list when its branch is merged.
PENDING_PAGES: set[str] = set()


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ---------------------------------------------------------------------------------------------
# The examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_the_examples_of_the_page_run(page, tmp_path):
    """Each page's untagged bash and python blocks, in order, in one fresh directory."""
    todo = [b for b in blocks(page) if b.lang in ("bash", "python") and b.run_by is None]
    if not todo:
        assert all(b.lang not in ("bash", "python") or b.run_by for b in blocks(page))
        return
    run_blocks(todo, tmp_path)


def test_every_fence_names_a_known_language():
    for page in PAGES:
        for b in blocks(page):
            assert b.lang in LANGUAGES, (f"{b.where()}: a fence of language {b.lang!r}; use one of {sorted(LANGUAGES)} "
                                         "(bash and python blocks are run, text is output)")


def test_tagged_examples_are_run_by_the_test_they_name():
    """A block left to another test: the test exists and reads this page's tagged blocks with
    doc_examples.tagged_blocks (which fails when it finds none)."""
    tagged = [(page, b) for page in PAGES for b in blocks(page) if b.run_by]
    assert tagged
    for page, b in tagged:
        test = ROOT / b.run_by
        assert test.is_file(), f"{b.where()}: {b.run_by} does not exist"
        assert b.lang in ("bash", "python"), f"{b.where()}: only bash and python blocks are run"
        source = test.read_text(encoding="utf-8")
        assert "tagged_blocks(" in source and page.name in source, (
            f"{b.where()}: {b.run_by} does not read {page.name}'s tagged examples (doc_examples.tagged_blocks)")
    for page in PAGES:  # a tag line is always right before a block it tags
        lines = page.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            if TAG.fullmatch(line.strip()):
                assert i + 1 < len(lines) and lines[i + 1].startswith("```"), f"{page_id(page)}:{i + 1}: a tag with no block after it"


# ---------------------------------------------------------------------------------------------
# The README
# ---------------------------------------------------------------------------------------------


def test_the_readme_fits_its_budget():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md is {lines} lines; the budget is 250: move detail to docs/"


def test_the_readme_quickstart():
    """The quickstart's two commands: the test command is the one CI runs (.ci/run ends with it),
    and the demo's command prints what the README shows (run here with this test's archsweep,
    not scripts/demo, which would build the package first)."""
    (quick,) = tagged_blocks(README, "tests/test_docs_examples.py")
    commands = [line.split("#")[0].strip() for line in quick.code.splitlines() if line.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nexec scripts/test" in ci
    demo = (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
    (line,) = [x for x in demo.splitlines() if x.startswith("exec .venv/bin/archsweep ")]
    args = line.split()[2:]
    assert args[-1] == '"$@"'
    r = subprocess.run([str(Path(sys.executable).parent / "archsweep"), *args[:-1]], cwd=ROOT,
                       capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    output = {" ".join(x.split()) for x in r.stdout.splitlines()}
    listing = next(b for b in blocks(README) if b.lang == "text" and b.line > quick.line)
    shown = [" ".join(x.split()) for x in listing.code.splitlines() if x.strip() and x.strip() != "..."]
    assert len(shown) >= 6
    for x in shown:
        assert x in output, f"README's demo listing shows a line scripts/demo does not print: {x}"


# ---------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    out, inside = [], False
    for line in page.read_text(encoding="utf-8").split("\n"):
        if FENCE.match(line):
            inside = not inside if (inside and line.strip() == "```") or not inside else inside
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


def anchors(page: Path) -> set[str]:
    text = prose(page)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_links_lead_to_pages_and_headings_that_exist():
    pending_seen = set()
    for page in PAGES:
        text = prose(page)
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            rel = os.path.relpath(dest, ROOT)
            if rel in PENDING_PAGES and not dest.exists():
                pending_seen.add(rel)
                continue
            assert dest.exists(), f"{page_id(page)}: link to {target}: {rel} does not exist"
            if anchor and dest.suffix == ".md":
                assert anchor in anchors(dest), f"{page_id(page)}: link to {target}: no heading #{anchor} in {rel}"
    for rel in PENDING_PAGES:
        assert (ROOT / rel).exists() or rel in pending_seen, f"{rel} is pending but nothing links to it"


def test_every_page_of_docs_is_linked_from_the_readme():
    text = README.read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{page.name})" in text, f"README.md's documentation list does not link docs/{page.name}"


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------


def test_every_picture_is_drawn_by_the_script_and_shown():
    script = (ROOT / "scripts" / "make-pictures").read_text(encoding="utf-8")
    shown = "".join(p.read_text(encoding="utf-8") for p in PAGES)
    pictures = sorted((ROOT / "docs").glob("*.png")) + sorted((ROOT / "docs").glob("*.svg"))
    assert pictures
    for pic in pictures:
        rel = f"docs/{pic.name}"
        assert rel in script, f"{rel} is not drawn by scripts/make-pictures"
        assert f"({pic.name})" in shown or f"({rel})" in shown, f"{rel} is not shown on any page"
    for page in PAGES:
        for m in re.finditer(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / m.group(1)).is_file(), f"{page_id(page)}: picture {m.group(1)} is missing"


def test_the_captions_quote_what_the_code_gives(tmp_path):
    """The front's size and params range (README and docs/results.md) from the command the
    picture is drawn from; VGG16's shares (docs/results.md) from its per-layer counts."""
    d = tmp_path / "vgg100k"
    archsweep.sweep_to_dataset(ROOT / "data" / "spaces" / "vgg.toml", d, sample=100_000, seed=0)
    front = archsweep.pareto(archsweep.scan(d), minimize=["params", "macs"])
    claim = (f"{front.height} variants, from {front['params'].min():,} to {front['params'].max():,}\nparams",
             f"{front.height} variants, from {front['params'].min():,} to {front['params'].max():,} params")
    for page in (README, ROOT / "docs" / "results.md"):
        text = page.read_text(encoding="utf-8")
        flat = " ".join(text.split())
        assert " ".join(claim[1].split()) in flat, f"{page_id(page)}'s caption of vgg_front.png should say: {claim[1]}"
        assert "100,000" in flat and "--sample 100000 --seed 0" in flat
    script = (ROOT / "scripts" / "make-pictures").read_text(encoding="utf-8")
    assert "--sample 100000 --seed 0" in script

    layers = archsweep.analyze(ROOT / "data" / "models" / "vgg16.toml").layers
    share = layers.select("name", *[(pl.col(c) / pl.col(c).sum() * 100).alias(c) for c in ("params", "macs", "activation_bytes")])
    row = {r["name"]: r for r in share.iter_rows(named=True)}
    text = " ".join((ROOT / "docs" / "results.md").read_text(encoding="utf-8").split())
    want = (f"first fully connected layer holds {row['fc1']['params']:.1f} % of its parameters and does "
            f"{row['fc1']['macs']:.2f} % of its MACs; the first two convolutions write "
            f"{row['conv1_1']['activation_bytes'] + row['conv1_2']['activation_bytes']:.0f} % of its activation memory")
    assert want in text, f"docs/results.md's caption of vgg16_layers.png should say: {want}"


def test_the_spaces_guide_sketch_compiles():
    """The sketch of the format in docs/spaces.md (a toml block, not run as an example) is a
    space archsweep compiles."""
    sketch = next(b for b in blocks(ROOT / "docs" / "spaces.md") if b.lang == "toml")
    assert 'name = "vgg_sketch"' in sketch.code
    space = archsweep.Space(tomllib.loads(sketch.code))
    assert space.size == 7 * 4**5 * 6**5 * 8
