"""Sweep datasets on disk (docs/datasets.md): damaged, truncated, bit-flipped, foreign, misplaced
and missing parts named by --resume, status, verify, scan and top, and --resume computing them
again; stray temporary files; the directory read as it is by polars, pyarrow and DuckDB; datasets
of the earlier layout (_manifest.json); --force; durable writes (fsync before a part counts).

A damaged part is made here by hand the way a disk, a copy or a person damages one: truncated to
zero or to half, one bit flipped, replaced by the same chunk of a run with another seed, renamed
over another chunk, deleted."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from doc_examples import run_blocks, tagged_blocks
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError, Space
from archsweep.cli import main
from archsweep.sweep import FORMAT, LEGACY_MANIFEST, MANIFEST, LocalExecutor, read_manifest, sweep_status, verify_dataset
from archsweep.sweep.layout import stale, tmp_name, write_manifest

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"
LEGACY = ROOT / "tests" / "data" / "legacy"
N, CHUNK, SEED = 8_000, 1_000, 0
RUN = ["--sample", str(N), "--seed", str(SEED), "--chunk-rows", str(CHUNK), "--no-progress"]
VICTIM = "part-00000003.parquet"


@pytest.fixture(scope="module")
def vgg() -> Space:
    return Space.load(VGG)


@pytest.fixture(scope="module")
def rows(vgg) -> pl.DataFrame:
    return archsweep.sweep(vgg, sample=N, seed=SEED)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, vgg) -> Path:
    d = tmp_path_factory.mktemp("pristine") / "ds"
    archsweep.sweep_to_dataset(vgg, d, sample=N, seed=SEED, chunk_rows=CHUNK)
    return d


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory, vgg) -> Path:
    d = tmp_path_factory.mktemp("other") / "ds"
    archsweep.sweep_to_dataset(vgg, d, sample=N, seed=SEED + 1, chunk_rows=CHUNK)
    return d


@pytest.fixture
def ds(pristine, tmp_path) -> Path:
    d = tmp_path / "ds"
    shutil.copytree(pristine, d)
    return d


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def flip(path: Path, offset: int, bit: int = 0x01) -> None:
    b = bytearray(path.read_bytes())
    b[offset] ^= bit
    path.write_bytes(bytes(b))


def footer_start(path: Path) -> int:
    data = path.read_bytes()
    return len(data) - 8 - int.from_bytes(data[-8:-4], "little")


# --------------------------------------------------------------------------------------------
# each kind of damage: named by status, verify, scan and top; --resume computes the part again


def damage(d: Path, kind: str, other: Path) -> str:
    """Damage VICTIM in ``d``; return (a regex of) what the checks must say about it."""
    p = d / VICTIM
    size = p.stat().st_size
    if kind == "zero":
        p.write_bytes(b"")
        return rf"empty \(0 bytes of the {size:,} the manifest recorded\)"
    if kind == "half":
        p.write_bytes(p.read_bytes()[: size // 2])
        return rf"truncated \({size // 2:,} bytes of the {size:,} the manifest recorded\)"
    if kind == "footer_bit":
        # one bit of the spec text in the footer: the footer still parses, its sha256 differs
        data = p.read_bytes()
        flip(p, data.rindex(b'"name"') + 2)
        return r"damaged: its footer is not the one the manifest recorded \(sha256 differs\)"
    if kind == "footer_garbage":
        flip(p, footer_start(p) + 3, 0xFF)  # the footer's thrift no longer parses
        return r"damaged: its Parquet footer does not parse"
    if kind == "other_seed":
        shutil.copyfile(other / VICTIM, p)
        return r"belongs to another run: its seed is 1, this run's 0"
    if kind == "other_chunk":
        shutil.copyfile(d / "part-00000002.parquet", p)
        return r"holds chunk 2, not 3"
    if kind == "missing":
        p.unlink()
        return r"missing: the manifest records it as done"
    raise AssertionError(kind)


KINDS = ["zero", "half", "footer_bit", "footer_garbage", "other_seed", "other_chunk", "missing"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_part_is_named_by_every_reader_and_recomputed_by_resume(kind, ds, other_seed, rows, capsys):
    want = damage(ds, kind, other_seed)
    named = rf"{VICTIM}: {want}"
    # status: not complete, the part named, exit status 1
    code, out, _ = run(capsys, "status", ds)
    assert code == 1 and "7 of 8 done, 1 pending — pending: 3" in out and re.search(f"damaged: {named}", out), out
    st = sweep_status(ds)
    assert st["done"] == 7 and st["pending"] == [3] and st["rows"] == N - CHUNK
    assert [d["part"] for d in st["damaged"]] == [VICTIM]
    # verify: a table of problems, exit status 1 (json: exactly this problem)
    code, out, _ = run(capsys, "verify", ds)
    assert code == 1 and VICTIM in out and "1 problem" in out
    code, out, _ = run(capsys, "verify", ds, "--format", "json")
    problems = json.loads(out)
    assert code == 1 and [p["file"] for p in problems] == [VICTIM]
    assert re.match(want, problems[0]["problem"]), problems
    # scan and every result command: an error naming the part, never fewer rows
    with pytest.raises(ArchsweepError, match=rf"1 damaged part: {named}.*--resume"):
        archsweep.scan(ds)
    code, _, err = run(capsys, "top", ds, "--by", "macs")
    assert code == 2 and re.search(named, err), err
    for command in (["query", ds, "SELECT count(*) AS n FROM sweep"], ["pareto", ds], ["plot", ds, "-o", ds.parent / "p.png"],
                    ["report", ds, "-o", ds.parent / "r.html"]):
        code, _, err = run(capsys, *command)
        assert code == 2 and re.search(named, err), (command, err)
    for helper in (lambda: archsweep.query(ds, "SELECT * FROM sweep"), lambda: archsweep.plot_sweep(ds),
                   lambda: archsweep.sweep_report(ds)):
        with pytest.raises(ArchsweepError, match=named):
            helper()
    # --resume: says what it found, computes that part again, and the dataset is whole
    code, _, err = run(capsys, "sweep", VGG, "-o", ds, *RUN, "--resume")
    assert code == 0, err
    assert re.search(f"recomputed {named}", err), err
    assert "1 part files written, 7 already done (1 damaged or missing ones computed again)" in err
    assert verify_dataset(ds, full=True) == []
    assert_frame_equal(archsweep.scan(ds).collect(), rows)
    assert_frame_equal(pl.scan_parquet(ds).collect(), rows)


def test_bits_flipped_in_the_rows_are_found_by_full_checks(ds, rows, capsys):
    # A flip in a data page leaves the footer as recorded: the footer checks pass, and polars may
    # read a wrong value without a word. The manifest's sha256 of the whole file finds it.
    p = ds / VICTIM
    flip(p, footer_start(p) // 2)
    assert verify_dataset(ds) == []
    code, out, _ = run(capsys, "verify", ds, "--full", "--format", "json")
    assert code == 1 and json.loads(out) == [
        {"file": VICTIM, "problem": "damaged: its contents are not the ones the manifest recorded (sha256 differs)"}]
    # a plain --resume keeps it (footers only), --resume --verify-full computes it again
    code, _, err = run(capsys, "sweep", VGG, "-o", ds, *RUN, "--resume")
    assert code == 0 and "0 part files written, 8 already done" in err
    code, _, err = run(capsys, "sweep", VGG, "-o", ds, *RUN, "--resume", "--verify-full")
    assert code == 0 and f"recomputed {VICTIM}: damaged: its contents are not the ones the manifest recorded" in err, err
    assert verify_dataset(ds, full=True) == []
    assert_frame_equal(archsweep.scan(ds).collect(), rows)


def test_a_result_command_that_cannot_decode_a_part_names_it(ds, capsys):
    # a flip polars cannot decode (found by trying): top fails, and says which part and why
    p = ds / VICTIM
    good = p.read_bytes()
    for offset in range(64, footer_start(p), 97):
        flip(p, offset, 0xFF)
        try:
            pl.read_parquet(p)
        except pl.exceptions.PolarsError:
            break
        p.write_bytes(good)
    else:
        pytest.fail("no flip made the part unreadable")
    code, _, err = run(capsys, "top", ds, "--by", "macs")
    assert code == 2 and f"{VICTIM}: damaged: its contents are not the ones the manifest recorded (sha256 differs)" in err, err
    assert "sweep --resume" in err


def test_a_stray_temporary_file_is_listed_and_removed_by_resume(ds, rows, capsys):
    tmp = ds / f".{VICTIM}.tmp-{dead_pid()}-0bad"
    tmp.write_bytes(b"PAR1 half a part")
    st = sweep_status(ds)
    assert st["done"] == 8 and st["temporary"] == [tmp.name] and st["damaged"] == []
    code, out, _ = run(capsys, "status", ds)
    assert code == 0 and "complete" in out and "temporary files: 1" in out
    code, out, _ = run(capsys, "verify", ds, "--format", "json")
    assert code == 1 and [p["file"] for p in json.loads(out)] == [tmp.name]
    # readers of parts are not disturbed; polars reading the whole directory is, until --resume
    assert_frame_equal(archsweep.scan(ds).collect(), rows)
    code, out, _ = run(capsys, "top", ds, "--by", "macs", "-k", 3, "--format", "json")
    assert code == 0 and [r["macs"] for r in json.loads(out)] == sorted(rows["macs"])[:3]
    with pytest.raises(pl.exceptions.PolarsError):
        pl.scan_parquet(ds).collect()
    code, _, err = run(capsys, "sweep", VGG, "-o", ds, *RUN, "--resume")
    assert code == 0 and "removed 1 temporary files of writers that died" in err and "8 already done" in err
    assert not tmp.exists() and verify_dataset(ds) == []
    assert_frame_equal(pl.scan_parquet(ds).collect(), rows)


def test_temporary_files_of_live_writers_are_kept(ds, tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_name(ds / "part-00000099.parquet").name.replace(f"-{os.getpid()}-", f"-{sleeper.pid}-")
        dead = tmp_name(ds / "part-00000099.parquet").name.replace(f"-{os.getpid()}-", f"-{dead_pid()}-")
        elsewhere = ".part-00000099.parquet.tmp-some-other-host-12345-abcd0123"
        done = f".{VICTIM}.tmp-some-other-host-12345-abcd0123"
        assert not stale(live, set()) and stale(dead, set())
        assert not stale(elsewhere, set())  # another host's writer: nothing here can tell it is dead
        assert stale(done, {VICTIM})  # its part is in place: this copy can never be linked
        assert stale(".part-00000001.parquet.tmp-99999999", set())  # the names earlier versions wrote
        for name in (live, dead, elsewhere, done):
            (ds / name).write_bytes(b"x")
        s = archsweep.sweep_to_dataset(VGG, ds, sample=N, seed=SEED, chunk_rows=CHUNK, resume=True)
        assert sorted(s.temporary_removed) == sorted([dead, done])
        assert sorted(p.name for p in ds.iterdir() if p.name.startswith(".")) == sorted([live, elsewhere])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_run_leaves_no_temporary_file(tmp_path, vgg):
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(vgg, d, sample=3000, seed=2, chunk_rows=1000)
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST] + [f"part-{k:08d}.parquet" for k in range(3)]


def test_run_chunk_refuses_a_damaged_part_in_its_place(vgg, tmp_path):
    from archsweep.sweep import run_chunk
    from archsweep.sweep.chunk import spec_json_of
    from archsweep.sweep.plan import make_run_meta

    meta = make_run_meta(vgg, "sample", 1000, 5, None, 1, "fp32", "adam", 500, None)
    e = run_chunk(spec_json_of(vgg), meta, 1, 500, 1000, str(tmp_path), 1)
    assert e["written"] and e["bytes"] == (tmp_path / e["part"]).stat().st_size
    (tmp_path / e["part"]).write_bytes(b"")
    with pytest.raises(ArchsweepError, match=r"part-00000001.parquet: empty \(0 bytes\)"):
        run_chunk(spec_json_of(vgg), meta, 1, 500, 1000, str(tmp_path), 1)


def test_a_damaged_manifest_is_named_and_rebuilt_from_the_parts(ds, rows, capsys, tmp_path):
    (ds / MANIFEST).write_bytes(b"PAR1 not a manifest")
    code, _, err = run(capsys, "status", ds)
    assert code == 2 and f"{ds / MANIFEST}: the manifest cannot be read" in err and "--resume" in err
    with pytest.raises(ArchsweepError, match="the manifest cannot be read"):
        archsweep.scan(ds)
    # as the message says: move it away, resume; the parts are checked and recorded again
    (ds / MANIFEST).rename(tmp_path / "old-manifest")
    s = archsweep.sweep_to_dataset(VGG, ds, sample=N, seed=SEED, chunk_rows=CHUNK, resume=True)
    assert s.parts_skipped == N // CHUNK and s.parts_written == 0 and s.repaired == []
    assert verify_dataset(ds, full=True) == []
    assert_frame_equal(pl.read_parquet(ds), rows)


# --------------------------------------------------------------------------------------------
# the audit's case, through the command line as a user runs it


def test_a_part_truncated_to_zero_is_not_reported_done(tmp_path):
    d = tmp_path / "ds"
    cli = [sys.executable, "-m", "archsweep"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    def sh(*args):
        return subprocess.run([*cli, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)

    assert sh("sweep", VGG, "-o", d, *RUN).returncode == 0
    (d / VICTIM).write_bytes(b"")
    r = sh("status", d)
    assert r.returncode == 1 and "complete" not in r.stdout and f"damaged: {VICTIM}: empty (0 bytes" in r.stdout
    r = sh("query", d, "SELECT count(*) AS n FROM sweep")
    assert r.returncode == 2 and VICTIM in r.stderr and "Traceback" not in r.stderr
    r = sh("sweep", VGG, "-o", d, *RUN, "--resume")
    assert r.returncode == 0 and "7 already done" in r.stderr and f"recomputed {VICTIM}: empty (0 bytes" in r.stderr
    r = sh("verify", d, "--full")
    assert r.returncode == 0 and "ok — 8 parts, 8,000 rows" in r.stdout


# --------------------------------------------------------------------------------------------
# the directory as it is, read by other tools


def space_cases():
    big = {"name": "big", "input": [4], "variables": {f"v{i}": list(range(1, 11)) for i in range(30)},
           "layers": [{"op": "linear", "out_features": f"=v{i}"} for i in range(30)]}
    return {
        "vgg": (VGG, dict(sample=3000, seed=4, chunk_rows=700)),
        "categorical": (ROOT / "data" / "spaces" / "nb201.toml", dict(chunk_rows=4000)),  # string variables
        "decimal_ids": (big, dict(sample=500, seed=1, chunk_rows=200)),  # 10^30 variants: Decimal(38, 0) ids
        "conditional": (ROOT / "data" / "spaces" / "ofa_mbv3.toml", dict(sample=600, seed=3, chunk_rows=250)),
    }


@pytest.mark.parametrize("case", list(space_cases()))
def test_the_directory_reads_as_it_is_with_polars_pyarrow_and_duckdb(case, tmp_path):
    import duckdb
    import pyarrow.dataset as pads

    spec, kw = space_cases()[case]
    space = Space(spec) if isinstance(spec, dict) else Space.load(spec)
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(space, d, **kw)
    want = archsweep.sweep(space, **{k: v for k, v in kw.items() if k != "chunk_rows"})
    assert len(list(d.glob("part-*.parquet"))) > 1 and (d / MANIFEST).exists()
    assert_frame_equal(pl.scan_parquet(d).collect(), want)
    assert_frame_equal(pl.scan_parquet(str(d) + "/").collect(), want)
    assert_frame_equal(pl.read_parquet(d), want)
    assert_frame_equal(pl.read_parquet(str(d / "*.parquet")), want)
    table = pads.dataset(d).to_table()  # skips names starting with _ or .
    got = pl.from_arrow(table)
    assert isinstance(got, pl.DataFrame)
    assert_frame_equal(got.sort("variant_id"), want.sort("variant_id"), check_dtypes=False)
    con = duckdb.connect()
    n, ids, params = con.sql(f"SELECT count(*), count(DISTINCT variant_id), sum(params) FROM read_parquet('{d}/*.parquet')").fetchall()[0]
    assert (n, ids, params) == (want.height, want.height, want["params"].sum())
    # the manifest is a Parquet file of no rows with the parts' columns
    md = pq.read_metadata(d / MANIFEST)
    assert md.num_rows == 0 and pl.read_parquet_schema(d / MANIFEST) == space.schema()
    assert read_manifest(d / MANIFEST)["format"] == FORMAT


def test_a_job_array_directory_reads_as_it_is(tmp_path, vgg):
    d = tmp_path / "ds"
    for i in range(3):
        archsweep.sweep_to_dataset(vgg, d, sample=5000, seed=2, chunk_rows=800, shard=(i, 3))
    assert sorted(p.name for p in d.glob("_manifest*")) == [f"_manifest.shard-{i}-of-3.parquet" for i in range(3)]
    assert_frame_equal(pl.read_parquet(d), archsweep.sweep(vgg, sample=5000, seed=2))
    assert verify_dataset(d) == []


def test_part_footers_say_what_they_hold(pristine, vgg):
    m = read_manifest(pristine / MANIFEST)
    assert m["format"] == FORMAT and m["run"]["seed"] == SEED and m["spec_hash"] == vgg.spec_hash
    for k in range(N // CHUNK):
        name = f"part-{k:08d}.parquet"
        kv = pq.read_metadata(pristine / name).metadata
        own = json.loads(kv[b"archsweep.part"])
        assert {x: own[x] for x in ("chunk", "start", "end", "rows")} == {"chunk": k, "start": k * CHUNK, "end": (k + 1) * CHUNK, "rows": CHUNK}
        # the chunk's counts (as in the manifest's entry): every sampled VGG variant is valid
        assert own["counts"]["evaluated"] == own["counts"]["kept"] == CHUNK == m["parts"][name]["kept"]
        assert json.loads(kv[b"archsweep.run"]) == m["run"]
        assert kv[b"archsweep.spec_hash"].decode() == vgg.spec_hash
        e = m["parts"][name]
        assert e["bytes"] == (pristine / name).stat().st_size and len(e["sha256"]) == len(e["footer_sha256"]) == 64


# --------------------------------------------------------------------------------------------
# the earlier layout: _manifest.json


@pytest.fixture
def legacy(tmp_path) -> Path:
    d = tmp_path / "legacy"
    shutil.copytree(LEGACY / "sweep", d)
    return d


LEGACY_RUN = dict(sample=300, seed=1, chunk_rows=100)


def _but_peak(df: pl.DataFrame) -> pl.DataFrame:
    """The legacy parts were written before peak_activation_bytes held the caller's input through
    the whole forward and before saved_bytes (train_bytes was the older estimate then:
    docs/memory.md): those columns are of the earlier conventions, and the layout tests compare
    every other column."""
    return df.drop("peak_activation_bytes", "saved_bytes", "train_bytes", strict=False)


def test_a_dataset_of_the_earlier_layout_is_read(legacy, capsys):
    want = archsweep.sweep(LEGACY / "mini.json", sample=300, seed=1)
    assert_frame_equal(_but_peak(archsweep.scan(legacy).collect()), _but_peak(want))
    st = sweep_status(legacy)
    assert st["format"] == "archsweep-sweep/1" and st["done"] == 3 and st["pending"] == [] and st["rows"] == 300
    code, out, _ = run(capsys, "status", legacy)
    assert code == 0 and "complete" in out and "sweep --resume converts it" in out
    problems = verify_dataset(legacy, full=True)
    assert [(p.file, p.problem.split(":")[0]) for p in problems] == [(LEGACY_MANIFEST, "the layout of archsweep-sweep/1")]
    code, out, _ = run(capsys, "top", legacy, "--by", "params", "-k", 2, "--format", "json")
    assert code == 0 and len(json.loads(out)) == 2
    (legacy / "part-00000001.parquet").write_bytes(b"")
    with pytest.raises(ArchsweepError, match=r"part-00000001.parquet: empty \(0 bytes\)"):
        archsweep.scan(legacy)


UNSIGNED = ("it has no saved_bytes column (written before train_bytes counted what autograd keeps for the backward), "
            "not the dataset's columns")


def test_resume_converts_the_earlier_layout(legacy):
    # the earlier layout's parts have no saved_bytes column (and hold UInt64 metric columns, from
    # before issue 20 made them Int64): a resume computes them again, so that the directory keeps
    # one schema and reads as it is
    want = archsweep.sweep(LEGACY / "mini.json", sample=300, seed=1)
    s = archsweep.sweep_to_dataset(LEGACY / "mini.json", legacy, resume=True, **LEGACY_RUN)
    assert s.parts_written == 3 and s.parts_skipped == 0
    assert s.repaired == [f"part-0000000{i}.parquet: {UNSIGNED}" for i in range(3)]
    assert sorted(p.name for p in legacy.iterdir()) == [MANIFEST, "part-00000000.parquet", "part-00000001.parquet",
                                                        "part-00000002.parquet"]
    m = read_manifest(legacy / MANIFEST)
    assert m["format"] == FORMAT and all(e["sha256"] for e in m["parts"].values())
    assert verify_dataset(legacy, full=True) == []
    assert_frame_equal(_but_peak(pl.read_parquet(legacy)), _but_peak(want))


def test_resume_of_the_earlier_layout_recomputes_what_is_damaged_or_missing(legacy):
    want = archsweep.sweep(LEGACY / "mini.json", sample=300, seed=1)
    (legacy / "part-00000000.parquet").write_bytes(b"")
    (legacy / "part-00000002.parquet").unlink()
    s = archsweep.sweep_to_dataset(LEGACY / "mini.json", legacy, resume=True, **LEGACY_RUN)
    assert s.parts_written == 3 and s.parts_skipped == 0  # part 1 for its columns of the earlier layout
    assert s.repaired == ["part-00000000.parquet: empty (0 bytes)", f"part-00000001.parquet: {UNSIGNED}",
                          "part-00000002.parquet: missing: the manifest records it as done"]
    assert verify_dataset(legacy, full=True) == []
    assert b"archsweep.part" in pq.read_metadata(legacy / "part-00000000.parquet").metadata
    assert_frame_equal(_but_peak(pl.read_parquet(legacy)), _but_peak(want))


def test_resume_of_the_earlier_layout_checks_the_options(legacy):
    with pytest.raises(ArchsweepError, match="cannot resume: seed was 1, now 2"):
        archsweep.sweep_to_dataset(LEGACY / "mini.json", legacy, resume=True, **{**LEGACY_RUN, "seed": 2})
    assert (legacy / LEGACY_MANIFEST).exists() and not (legacy / MANIFEST).exists()


# --------------------------------------------------------------------------------------------
# -o: empty, a dataset (--resume), or --force


def test_a_directory_of_other_files_needs_force(tmp_path, vgg, capsys):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(ArchsweepError, match=r"not empty and holds no archsweep dataset \(notes.txt\).*--force"):
        archsweep.sweep_to_dataset(vgg, d, sample=100)
    with pytest.raises(ArchsweepError, match="--force"):  # --resume does not make it a dataset
        archsweep.sweep_to_dataset(vgg, d, sample=100, resume=True)
    code, _, err = run(capsys, "sweep", VGG, "-o", d, "--sample", 100, "--no-progress")
    assert code == 2 and "notes.txt" in err and "--force" in err
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    code, _, err = run(capsys, "sweep", VGG, "-o", d, "--sample", 100, "--no-progress", "--force")
    assert code == 0, err
    assert (d / "notes.txt").read_text() == "mine"
    assert archsweep.scan(d).collect().height == 100
    assert [(p.file, p.problem.split(" (")[0]) for p in verify_dataset(d)] == [("notes.txt", "not part of the dataset")]
    # a dataset with a file of the user's in it resumes without --force
    s = archsweep.sweep_to_dataset(vgg, d, sample=100, resume=True)
    assert s.parts_skipped == 1


def test_empty_and_new_directories_need_nothing(tmp_path, vgg):
    (tmp_path / "empty").mkdir()
    archsweep.sweep_to_dataset(vgg, tmp_path / "empty", sample=10)
    archsweep.sweep_to_dataset(vgg, tmp_path / "a" / "b", sample=10)
    assert verify_dataset(tmp_path / "empty") == verify_dataset(tmp_path / "a" / "b") == []


def test_verify_full_needs_resume(tmp_path, capsys):
    code, _, err = run(capsys, "sweep", VGG, "-o", tmp_path / "x", "--sample", 10, "--verify-full")
    assert code == 2 and "needs --resume" in err


def test_verify_lists_pending_chunks_and_foreign_manifests(ds, capsys):
    (ds / "part-00000005.parquet").unlink()
    (ds / "part-00000006.parquet").unlink()
    m = read_manifest(ds / MANIFEST)
    for k in (5, 6):
        del m["parts"][f"part-{k:08d}.parquet"]
    write_manifest(ds / MANIFEST, m, Space.load(VGG).empty_frame())
    problems = verify_dataset(ds)
    assert [(p.file, p.problem) for p in problems] == [
        ("part-00000005.parquet … (2 files)", "not computed yet: chunks 5-6 of 8 are pending")]
    code, out, _ = run(capsys, "verify", ds)
    assert code == 1 and "chunks 5-6 of 8 are pending" in out
    assert run(capsys, "verify", ds / "nope")[0] == 2


# --------------------------------------------------------------------------------------------
# durable: a part counts as done only once its bytes and its name are on disk


def test_parts_and_manifest_are_fsynced_before_they_count(tmp_path, vgg, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_link, real_replace = os.fsync, os.link, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def link(src, dst, *a, **k):
        events.append(("link", f"{src} -> {dst}"))
        return real_link(src, dst, *a, **k)

    def replace(src, dst, *a, **k):
        events.append(("replace", f"{src} -> {dst}"))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "replace", replace)
    d = tmp_path / "ds"
    with LocalExecutor(1) as one:
        archsweep.sweep_to_dataset(vgg, d, sample=2000, seed=1, chunk_rows=1000, executor=one)
    monkeypatch.undo()
    name = lambda s: Path(s).name  # noqa: E731
    for k in range(2):
        part = f"part-{k:08d}.parquet"
        link_at = next(i for i, (e, what) in enumerate(events) if e == "link" and what.endswith("/" + part))
        tmp = events[link_at][1].split(" -> ")[0]
        # the temporary file's bytes are fsynced before the link, the directory after it
        assert ("fsync", tmp) in events[:link_at]
        assert ("fsync", str(d)) in events[link_at + 1:]
        dir_sync = events.index(("fsync", str(d)), link_at + 1)
        # the first manifest recording the part is renamed into place after that
        recorded = [i for i, (e, what) in enumerate(events) if e == "replace" and name(what.split(" -> ")[1]) == MANIFEST
                    and i > dir_sync]
        assert recorded, f"no manifest written after {part} was made durable"
    for i, (e, what) in enumerate(events):
        if e == "replace":
            src = what.split(" -> ")[0]
            assert ("fsync", src) in events[:i], f"{what}: renamed before its bytes were fsynced"
            assert ("fsync", str(Path(src).parent)) in events[i + 1:], f"{what}: the directory was not fsynced after"
    assert verify_dataset(d, full=True) == []


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_counts_only_whole_parts(tmp_path, sig):
    # Ctrl-C (SIGINT) or kill (SIGTERM) in the middle of a run: every part on disk and every part
    # the manifest records is whole; --resume completes the rest
    import signal
    import time

    n, chunk = 300_000, 6_000
    d = tmp_path / "ds"
    args = ["--sample", str(n), "--seed", "3", "--chunk-rows", str(chunk), "--threads", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(d), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (d.is_dir() and any(d.glob("part-*.parquet"))):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in ((130,) if sig == "SIGINT" else (-signal.SIGTERM,))
    done = sorted(p.name for p in d.glob("part-*.parquet"))
    assert 1 <= len(done) < n // chunk, "interrupt earlier: the run was already complete"
    st = sweep_status(d)
    assert st["damaged"] == [] and st["done"] == len(done)
    assert set(read_manifest(d / MANIFEST)["parts"]) <= set(done)
    if sig == "SIGINT":
        # Ctrl-C says what was saved and prints the command that completes the run; it does
        err = proc.stderr.read().decode() if proc.stderr else ""
        lines = err.strip().splitlines()
        assert lines[-2] == (f"archsweep: interrupted: {len(done)} of {n // chunk} chunks saved in {d} ({st['rows']:,} rows); "
                             "to finish the sweep, run:"), err
        command = lines[-1].strip()
        assert command == shlex.join(["archsweep", "sweep", str(VGG), "-o", str(d), *args, "--resume"])
        r = subprocess.run([sys.executable, "-m", "archsweep", *shlex.split(command)[1:]], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert f"{n // chunk - len(done)} part files written, {len(done)} already done" in " ".join((r.stdout + r.stderr).split())
        assert verify_dataset(d, full=True) == []
        return
    s = archsweep.sweep_to_dataset(VGG, d, sample=n, seed=3, chunk_rows=chunk, resume=True)
    assert s.parts_skipped == len(done) and s.repaired == []
    assert verify_dataset(d, full=True) == []
    ids = pl.scan_parquet(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == ids.n_unique() == n


# --------------------------------------------------------------------------------------------
# the documentation's examples, run as written (docs/datasets.md's by tests/test_docs_examples.py)


def test_the_dataset_examples_of_docs_sweeps_md_run(tmp_path):
    """docs/sweeps.md's dataset examples (tagged 'run by tests/test_datasets.py'): a sweep, its
    status and full verification, a resume that has nothing to redo, the directory read by polars
    as it is; they leave a whole dataset of the sample's 100,000 distinct ids."""
    examples = tagged_blocks("docs/sweeps.md", "tests/test_datasets.py")
    assert [b.lang for b in examples] == ["bash", "python"]
    run_blocks(examples, tmp_path)
    d = tmp_path / "vgg100k"
    assert verify_dataset(d, full=True) == []
    ids = pl.scan_parquet(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == ids.n_unique() == 100_000
