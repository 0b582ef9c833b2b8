"""Distributed sweeps: run_chunk behind an executor, Dask's LocalCluster equal to the local
engine row for row, a worker killed mid-run, two runs filling one directory at once, failures
recorded in the manifest, `archsweep status`, and the fork guard.

Loopback only: one LocalCluster (2 worker processes with nannies, 1 thread each) for the module.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError, Space
from archsweep.sweep import MANIFEST, LocalExecutor, read_manifest, run_chunk, sweep_status

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"

# a small grid with a constraint, a derived variable, invalid variants and a switched layer
TINY = {
    "name": "tiny",
    "input": [3, "=res", "=res"],
    "variables": {"res": [4, 16, 32], "w": [8, 16, 24], "k": [1, 3, 5], "deep": [True, False]},
    "derived": {"w2": "w * 2"},
    "constraints": ["w2 >= 16"],
    "layers": [
        {"op": "conv2d", "out_channels": "=w", "kernel_size": "=k", "stride": 2},
        {"op": "relu"},
        {"op": "conv2d", "out_channels": "=w2", "kernel_size": 3, "when": "=deep"},
        {"op": "maxpool2d", "kernel_size": 2},
        {"op": "flatten"},
        {"op": "linear", "out_features": 10},
    ],
}


def parts(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("part-*.parquet"))


def cli(*args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "archsweep", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120, **kw)


@pytest.fixture(scope="module")
def vgg() -> Space:
    return Space.load(VGG)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None)  # nannies (the default) respawn killed workers
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def worker_pids(client) -> dict[str, int]:
    client.wait_for_workers(2, timeout=60)
    return client.run(os.getpid)


# --------------------------------------------------------------------------------------------
# the shard runner on its own


def test_run_chunk_writes_one_part_once(vgg, tmp_path):
    from archsweep.sweep.chunk import spec_json_of
    from archsweep.sweep.plan import make_run_meta

    meta = make_run_meta(vgg, "sample", 1000, 5, None, 1, "fp32", "adam", 400, None)
    spec_json = spec_json_of(vgg)
    e = run_chunk(spec_json, meta, 2, 800, 1000, str(tmp_path), 1)
    assert e["part"] == "part-00000002.parquet" and e["written"] is True
    assert (e["chunk"], e["start"], e["end"], e["rows"], e["evaluated"]) == (2, 800, 1000, 200, 200)
    assert parts(tmp_path) == ["part-00000002.parquet"] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    mtime = (tmp_path / e["part"]).stat().st_mtime_ns
    again = run_chunk(spec_json, meta, 2, 800, 1000, str(tmp_path), 1)
    # not rewritten, and its counts come from the part's footer (a Dask task recomputed after its
    # worker died once the part was in place still reports the chunk's rows to the summary)
    assert again["written"] is False and again["rows"] == 200
    assert (again["evaluated"], again["kept"]) == (e["evaluated"], e["kept"]) == (200, 200)
    assert (tmp_path / e["part"]).stat().st_mtime_ns == mtime  # never rewritten
    assert_frame_equal(pl.read_parquet(tmp_path / e["part"]), archsweep.sweep(vgg, sample=1000, seed=5)[800:])
    # a part of another run under the same name is refused, not counted
    with pytest.raises(ArchsweepError, match="part-00000002.parquet: belongs to another run: its seed is 5, this run's 6"):
        run_chunk(spec_json, {**meta, "seed": 6}, 2, 800, 1000, str(tmp_path), 1)


def test_racing_writers_leave_one_file(vgg, tmp_path):
    # two writers of one chunk at once: both compute it, exactly one file is linked into place
    from archsweep.sweep.chunk import spec_json_of
    from archsweep.sweep.plan import make_run_meta

    meta = make_run_meta(vgg, "sample", 50_000, 1, None, 1, "fp32", "adam", 50_000, None)
    with cf.ThreadPoolExecutor(4) as ex:
        res = list(ex.map(lambda _: run_chunk(spec_json_of(vgg), meta, 0, 0, 50_000, str(tmp_path), 1), range(4)))
    assert sum(r["written"] for r in res) == 1
    assert parts(tmp_path) == ["part-00000000.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert pl.read_parquet(tmp_path / "part-00000000.parquet")["variant_id"].n_unique() == 50_000


# --------------------------------------------------------------------------------------------
# Dask equals local


@pytest.mark.parametrize("case", ["sample", "grid_where", "ids"])
def test_local_cluster_equals_local_row_for_row(client, vgg, tmp_path, case):
    if case == "sample":
        space, kw = vgg, dict(sample=30_000, seed=3, chunk_rows=4_000)
    elif case == "grid_where":
        space, kw = Space(TINY), dict(where="k < 5 or params > 1000", chunk_rows=7)
    else:
        space, kw = vgg, dict(ids=[9, 3, 10**12, 5, 77, 3] * 50, chunk_rows=64, batch=4, dtype="fp16")
    local = archsweep.sweep(space, **kw)
    assert_frame_equal(archsweep.sweep(space, engine="dask", client=client, **kw), local)
    s = archsweep.sweep_to_dataset(space, engine="dask", client=client, out=tmp_path / "ds", **kw)
    assert s.engine == "dask" and s.kept == local.height and s.parts_written == len(parts(tmp_path / "ds"))
    assert_frame_equal(archsweep.scan(tmp_path / "ds").collect(), local)
    manifest = read_manifest(tmp_path / "ds" / MANIFEST)
    assert sum(p["rows"] for p in manifest["parts"].values()) == local.height and manifest["failed"] == {}


def test_dask_shards_and_resume(client, vgg, tmp_path):
    d = tmp_path / "ds"
    kw = dict(sample=20_000, seed=4, chunk_rows=3_000, out=d)
    archsweep.sweep_to_dataset(vgg, shard=(1, 3), **kw)  # local engine, one shard of a job array
    s = archsweep.sweep_to_dataset(vgg, engine="dask", client=client, resume=True, **kw)
    assert s.parts_skipped == 2 and s.parts_written == 5
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(vgg, sample=20_000, seed=4))


# --------------------------------------------------------------------------------------------
# a worker dies mid-run


def test_worker_killed_mid_run_gives_every_id_once(client, vgg, tmp_path):
    n, chunk = 400_000, 10_000
    d = tmp_path / "ds"
    before = worker_pids(client)
    with cf.ThreadPoolExecutor(1) as pool:
        run = pool.submit(archsweep.sweep_to_dataset, vgg, sample=n, seed=8, chunk_rows=chunk, out=d, engine="dask", client=client)
        deadline = time.monotonic() + 60
        # some chunk has started (a temporary part file) or finished
        while not (d.is_dir() and any(p.name.startswith((".part-", "part-")) for p in d.iterdir())):
            assert not run.done(), run.result()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        victim = sorted(before.values())[0]
        os.kill(victim, signal.SIGKILL)
        done_at_kill = len(parts(d))
        summary = run.result(timeout=120)
    assert done_at_kill < n // chunk, "kill earlier: the run was already complete"
    assert summary.kept == len(parts(d)) * chunk == n
    ids = archsweep.scan(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == n and ids.n_unique() == n
    manifest = read_manifest(d / MANIFEST)
    assert len(manifest["parts"]) == n // chunk and manifest["failed"] == {}
    # the killed worker's temporary file, if it was writing, went when the run completed
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]
    after = worker_pids(client)  # the nanny restarted the killed worker
    assert victim not in after.values() and len(after) == 2


# --------------------------------------------------------------------------------------------
# two runs on one directory


def test_two_concurrent_runs_fill_one_directory_once(client, vgg, tmp_path):
    # Design: chunks are deterministic and a part is linked into place only if its name is free,
    # so concurrent runs (here one local, one on Dask) complete disjoint chunks and skip or lose
    # the race on the others; the dataset has each id exactly once. Each coordinator writes the
    # manifest merged with what the other recorded.
    n, chunk = 60_000, 2_000
    d = tmp_path / "ds"
    kw = dict(sample=n, seed=12, chunk_rows=chunk, out=d, resume=True)
    go = threading.Barrier(2)

    def local():
        go.wait()
        return archsweep.sweep_to_dataset(vgg, threads=1, **kw)

    def dask():
        go.wait()
        return archsweep.sweep_to_dataset(vgg, engine="dask", client=client, **kw)

    with cf.ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(local), pool.submit(dask)
        sa, sb = a.result(timeout=120), b.result(timeout=120)
    assert sa.parts_written + sb.parts_written == n // chunk
    assert sa.parts_written + sa.parts_skipped == sb.parts_written + sb.parts_skipped == n // chunk
    assert len(parts(d)) == n // chunk
    ids = archsweep.scan(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == n and ids.n_unique() == n
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(vgg, sample=n, seed=12))
    manifest = read_manifest(d / MANIFEST)
    assert len(manifest["parts"]) == n // chunk
    # a run that does not ask to resume is refused as soon as the directory holds a sweep
    with pytest.raises(ArchsweepError, match="already holds a sweep; pass --resume"):
        archsweep.sweep_to_dataset(vgg, engine="dask", client=client, sample=n, seed=12, chunk_rows=chunk, out=d)
    # and a run with other options is refused whatever it asks
    with pytest.raises(ArchsweepError, match="cannot resume: seed was 12, now 13"):
        archsweep.sweep_to_dataset(vgg, engine="dask", client=client, sample=n, seed=13, chunk_rows=chunk, out=d, resume=True)


# --------------------------------------------------------------------------------------------
# failures, status


class FailingExecutor(cf.Executor):
    """The local engine, but chunks in `bad` raise as a dead worker would."""

    def __init__(self, bad: set[int]):
        self.inner, self.bad = LocalExecutor(), bad

    def submit(self, fn, *args, **kwargs):
        if fn is run_chunk and args[2] in self.bad:
            f = cf.Future()
            f.set_exception(RuntimeError(f"worker lost while computing chunk {args[2]}"))
            return f
        return self.inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, **kw):
        self.inner.shutdown(wait)


def test_failed_chunks_are_recorded_then_resumed(vgg, tmp_path, capsys):
    d = tmp_path / "ds"
    kw = dict(sample=10_000, seed=2, chunk_rows=1_000, out=d)
    with pytest.raises(ArchsweepError, match=r"2 of 10 chunks failed \(chunk 3: RuntimeError: worker lost.*--resume"):
        archsweep.sweep_to_dataset(vgg, executor=FailingExecutor({3, 7}), **kw)
    assert len(parts(d)) == 8  # the others completed
    st = sweep_status(d)
    assert st["done"] == 8 and st["pending"] == [3, 7] and st["rows"] == 8_000
    assert [f["chunk"] for f in st["failed"]] == [3, 7] and "worker lost" in st["failed"][0]["error"]
    from archsweep.cli import main

    assert main(["status", str(d)]) == 0
    out = capsys.readouterr().out
    assert "8 of 10 done, 2 pending" in out and "pending: 3, 7" in out and "failed: chunk 3 [3,000, 4,000)" in out
    s = archsweep.sweep_to_dataset(vgg, resume=True, **kw)
    assert s.parts_written == 2 and s.parts_skipped == 8
    st = sweep_status(d)
    assert st["done"] == 10 and st["pending"] == [] and st["failed"] == [] and st["rows"] == 10_000
    assert read_manifest(d / MANIFEST)["failed"] == {}


def test_status_of_job_array_shards(vgg, tmp_path, capsys):
    d = tmp_path / "ds"
    kw = dict(sample=9_000, seed=1, chunk_rows=1_000, out=d, where="params < 1e8")
    archsweep.sweep_to_dataset(vgg, shard=(0, 3), **kw)
    archsweep.sweep_to_dataset(vgg, shard=(2, 3), **kw)
    (d / ".part-00000001.parquet.tmp-4242-00ff").write_bytes(b"PAR1 torn")
    st = sweep_status(d)
    assert st["chunks"] == 9 and st["done"] == 6 and st["pending"] == [1, 4, 7]
    assert st["rows"] == archsweep.scan(d).collect().height < 6_000 and st["positions_done"] == 6_000
    assert [(s["shard"], s["done"], s["pending"], s["manifest"]) for s in st["shards"]] == [
        ("0/3", 3, 0, "_manifest.shard-0-of-3.parquet"), ("1/3", 0, 3, None), ("2/3", 3, 0, "_manifest.shard-2-of-3.parquet")]
    assert st["temporary"] == [".part-00000001.parquet.tmp-4242-00ff"]
    from archsweep.cli import main

    assert main(["status", str(d), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == st
    assert main(["status", str(d)]) == 0
    out = capsys.readouterr().out
    assert "6 of 9 done, 3 pending" in out and "shard 1/3: 0 done, 3 pending (no manifest yet)" in out
    assert "temporary files: 1" in out
    assert main(["status", str(tmp_path / "nope")]) == 2


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_dask_engine_with_a_scheduler_address(client, tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    d = tmp_path / "ds"
    r = cli("sweep", spec, "-o", d, "--chunk-rows", 20, "--engine", "dask", "--scheduler", client.scheduler.address, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "part files written" in r.stderr and "Traceback" not in r.stderr
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(Space(TINY)))
    r = cli("status", d)
    assert r.returncode == 0 and "complete" in r.stdout


def test_cli_dask_engine_with_an_embedded_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    d = tmp_path / "ds"
    r = cli("sweep", VGG, "-o", d, "--sample", 5000, "--chunk-rows", 1000, "--engine", "dask", "--workers", 1, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "5 part files written" in r.stderr and "Traceback" not in r.stderr
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(Space.load(VGG), sample=5000))


@pytest.mark.parametrize("args,want", [
    (["--scheduler", "tcp://127.0.0.1:9"], "need engine='dask'"),
    (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers starts a local cluster"),
])
def test_cli_engine_errors(tmp_path, args, want):
    pytest.importorskip("distributed")
    r = cli("sweep", VGG, "-o", tmp_path / "ds", "--sample", 10, *args)
    assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------------
# other executors; fork


SCRIPT = """
import concurrent.futures as cf, multiprocessing as mp, sys
import archsweep
if __name__ == "__main__":
    space = archsweep.Space.load(sys.argv[1])
    local = archsweep.sweep(space, sample=6000, seed=2, chunk_rows=1000)
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(sys.argv[2])) as ex:
        try:
            print(archsweep.sweep(space, sample=6000, seed=2, chunk_rows=1000, executor=ex).equals(local))
        except archsweep.ArchsweepError as e:
            print("error:", e)
"""


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_process_pool_executor_spawn_works_fork_is_refused(tmp_path, method):
    # after a sweep in the parent, rayon's and polars' pools are inherited by a forked child without
    # their threads (a hang); spawned children are fine, forked ones get a clear error instead
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(VGG), method], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    if method == "spawn":
        assert r.stdout.strip() == "True"
    else:
        assert "forked" in r.stdout and "'spawn'" in r.stdout
