"""Job arrays and dask-jobqueue against a real SLURM, and the shard count a directory records.

The first tests need no scheduler: ``--shard auto`` (from SLURM's environment variables, faked),
a shard count that disagrees with the directory's, more shards than chunks, and the rerun
command ``archsweep status`` prints.

The others start a one-node SLURM on localhost (Debian's ``slurm-wlm`` and ``munge``; see
tests/slurm_local.py): the ``slurm`` fixture writes ``slurm.conf`` into a temporary directory,
starts ``munged`` (its own key and socket there), ``slurmctld`` and ``slurmd`` (ports picked free,
state and spool in the temporary directory, proctrack/linuxproc: no cgroups), waits until
``sinfo`` shows the node idle, and at the end cancels every job, stops the three daemons and
removes the directory. The jobs
run the archsweep of this test's Python (its bin directory first on PATH). They run the blocks
of docs/distributed.md marked ``<!-- example: run by tests/test_slurm.py -->`` as written there,
after the replacements of ``SUBSTITUTIONS`` (sizes only; each must occur exactly once, so a changed
doc fails here rather than run untested) and the output directory /scratch/me/vgg-1e10 made a
temporary one.

Without SLURM these tests skip, except in CI (``CI=true`` or ``ARCHSWEEP_REQUIRE_SLURM=1``, set
by .ci/run, which installs the packages), where a missing SLURM is a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError, Space
from archsweep.sweep import read_manifest, sweep_status, verify_dataset
from archsweep.sweep.slurm import array_indices, auto_shard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_examples import tagged_blocks  # noqa: E402
from slurm_local import Slurm, missing_binaries, one_node_slurm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "distributed.md"
VGG = ROOT / "data" / "spaces" / "vgg.toml"
REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("ARCHSWEEP_REQUIRE_SLURM") == "1"
#: CPUs the test node offers, whatever the machine has: two tasks of one CPU run at once, the
#: others wait in the queue (so `status` sees queued tasks).
NODE_CPUS = 2

# The sizes of the docs' blocks, made small: (old, new) replaced once each in the block.
JOB_ARRAY = [("--array=0-63", "--array=0-3"), ("--cpus-per-task=2", "--cpus-per-task=1"), ("--time=02:00:00", "--time=00:10:00"),
             ("--sample 10000000000", "--sample 120000"), ("--chunk-rows 4194304", "--chunk-rows 10000")]
# the killed task's array: two shards of 6 chunks each, chunks long enough to kill one mid-way
KILLED_ARRAY = [("--array=0-63", "--array=0-1"), ("--cpus-per-task=2", "--cpus-per-task=1"), ("--time=02:00:00", "--time=00:10:00"),
                ("--sample 10000000000", "--sample 2400000"), ("--chunk-rows 4194304", "--chunk-rows 200000")]
RECIPE = [("job_cpu=2", "job_cpu=1"), ('memory="4GB"', 'memory="1GB"'), ('walltime="04:00:00"', 'walltime="00:10:00"'),
          ("cluster.scale(jobs=64)", "cluster.scale(jobs=2)"), ("sample=10**10", "sample=1_200_000"),
          ('"--sample", "10000000000"', '"--sample", "1200000"'), ("chunk_rows=1 << 22", "chunk_rows=50_000"),
          ('str(1 << 22)', 'str(50_000)'), ("threads=2", "threads=1"), ('"--threads", "2"', '"--threads", "1"'),
          ("client.wait_for_workers(1)", "client.wait_for_workers(2)")]
SUBSTITUTIONS = {"job array": JOB_ARRAY, "killed task": KILLED_ARRAY, "SLURMCluster recipe": RECIPE}


def doc_block(lang: str, contains: str) -> str:
    """The block of docs/distributed.md marked as run here, of language ``lang``, holding ``contains``
    (read by doc_examples.tagged_blocks, as the docs-example test expects)."""
    found = [b.code for b in tagged_blocks(DOC, "tests/test_slurm.py") if b.lang == lang and contains in b.code]
    assert len(found) == 1, f"docs/distributed.md: {len(found)} marked {lang} blocks hold {contains!r}"
    return found[0]


def substitute(text: str, table: list[tuple[str, str]], out: Path) -> str:
    for old, new in table:
        assert text.count(old) == 1, f"docs/distributed.md changed: {old!r} occurs {text.count(old)} times in the block"
        text = text.replace(old, new)
    assert "/scratch/me/vgg-1e10" in text, "docs/distributed.md changed: the block writes no /scratch/me/vgg-1e10"
    return text.replace("/scratch/me/vgg-1e10", str(out))


# --------------------------------------------------------------------------------------------
# without a scheduler: the shard count


def test_array_indices():
    assert array_indices([1, 5, 6, 7, 9]) == "1,5-7,9" and array_indices([0]) == "0" and array_indices([3, 4]) == "3-4"


ENV = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "4",
       "SLURM_ARRAY_TASK_STEP": "1"}


def test_shard_auto_first_submission_then_reruns(tmp_path, monkeypatch):
    d = tmp_path / "ds"
    vgg = Space.load(VGG)
    kw = dict(sample=8_000, seed=1, chunk_rows=1_000, resume=True)
    # the first submission (array 0-3): N from the array's bounds
    assert auto_shard(d, ENV) == (2, 4)
    for k in range(4):
        monkeypatch.setattr(os, "environ", {**os.environ, **ENV, "SLURM_ARRAY_TASK_ID": str(k)})
        if k != 1:  # task 1 "dies" before it starts
            archsweep.sweep_to_dataset(vgg, d, shard="auto", **kw)
    assert sorted(p.name for p in d.glob("_manifest*")) == [f"_manifest.shard-{k}-of-4.parquet" for k in (0, 2, 3)]
    # a rerun of index 1 alone: its array says 1 task, min = max = 1; the directory says 4
    rerun = {**ENV, "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "1", "SLURM_ARRAY_TASK_COUNT": "1"}
    assert auto_shard(d, rerun) == (1, 4)
    # the old recipe, $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT, is refused, naming the count held
    with pytest.raises(ArchsweepError, match=r"shard 1/1: .* holds a job array of 4 shards .*pass --shard 1/4, or --shard auto"):
        archsweep.sweep_to_dataset(vgg, d, shard=(1, 1), **kw)
    with pytest.raises(ArchsweepError, match=r"shard 1/2: .* holds a job array of 4 shards"):
        archsweep.sweep_to_dataset(vgg, d, shard=(1, 2), **kw)
    assert sweep_status(d)["pending"] == [1, 5]
    monkeypatch.setattr(os, "environ", {**os.environ, **rerun})
    s = archsweep.sweep_to_dataset(vgg, d, shard="auto", **kw)
    assert s.parts_written == 2
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(vgg, sample=8_000, seed=1))
    # an index beyond the recorded count is refused
    with pytest.raises(ArchsweepError, match=r"array task 4, but .* holds a job array of 4 shards \(0-3"):
        auto_shard(d, {**rerun, "SLURM_ARRAY_TASK_ID": "4"})


def test_shard_auto_refusals(tmp_path):
    d = tmp_path / "ds"
    with pytest.raises(ArchsweepError, match="--shard auto takes the shard from SLURM_ARRAY_TASK_ID, which is not set"):
        auto_shard(d, {})
    # no count recorded yet and an array that is not 0..N-1: the count is unknown
    with pytest.raises(ArchsweepError, match=r"records no shard count yet, and this array \(indices 1-5, 2 tasks\) is not 0..N-1"):
        auto_shard(d, {**ENV, "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "5",
                       "SLURM_ARRAY_TASK_COUNT": "2"})
    with pytest.raises(ArchsweepError, match="SLURM_ARRAY_TASK_ID='x' is not an integer"):
        auto_shard(d, {**ENV, "SLURM_ARRAY_TASK_ID": "x"})
    d.mkdir()
    for name in ("_manifest.shard-0-of-4.parquet", "_manifest.shard-0-of-8.parquet"):
        (d / name).write_bytes(b"")
    with pytest.raises(ArchsweepError, match=r"holds shards of 4 \(_manifest.shard-\*-of-4.parquet\) and 8"):
        auto_shard(d, ENV)


def test_more_shards_than_chunks_is_refused(tmp_path):
    vgg = Space.load(VGG)
    # 4,000 positions in chunks of 1,000: 4 chunks (written out: 0-999, 1000-1999, 2000-2999, 3000-3999)
    with pytest.raises(ArchsweepError, match=r"shard 3/8: the run has 4 chunks of 1,000 positions, so shards 4-7 would get "
                                             r"nothing; use at most 4 shards"):
        archsweep.sweep_to_dataset(vgg, tmp_path / "a", sample=4_000, chunk_rows=1_000, shard=(3, 8))
    with pytest.raises(ArchsweepError, match=r"shard 0/5: the run has 4 chunks of 1,000 positions, so shard 4 would get nothing"):
        archsweep.sweep(vgg, sample=4_000, chunk_rows=1_000, shard=(0, 5))
    # 4,001 positions: 5 chunks, the last of one position; 5 shards are fine
    assert archsweep.sweep(vgg, sample=4_001, chunk_rows=1_000, shard=(4, 5)).height == 1
    assert not (tmp_path / "a").exists()  # refused before anything is written


def test_cli_shard_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "ds"), "--sample", "4000",
                        "--chunk-rows", "1000", "--shard", "3/8"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "archsweep: error: shard 3/8: the run has 4 chunks of 1,000 positions, so shards 4-7 would get nothing" in r.stderr
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "ds"), "--sample", "4000",
                        "--shard", "auto"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "SLURM_ARRAY_TASK_ID, which is not set" in r.stderr and "Traceback" not in r.stderr


def test_status_prints_the_rerun_of_the_missing_shards(tmp_path, monkeypatch, capsys):
    d = tmp_path / "ds"
    vgg = Space.load(VGG)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n")
    # shards 0 and 2 of 4 ran as tasks of array job 77 (scontrol is not asked: no SLURM_JOB_ID)
    for k in (0, 2):
        monkeypatch.setattr(os, "environ", {**os.environ, **ENV, "SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_JOB_ID": "77",
                                            "SLURM_SUBMIT_DIR": str(tmp_path), "SLURM_JOB_NAME": "job.sh"})
        archsweep.sweep_to_dataset(vgg, d, sample=8_000, chunk_rows=1_000, shard="auto")
    monkeypatch.undo()
    m = read_manifest(d / "_manifest.shard-2-of-4.parquet")
    assert m["slurm"] == {"array_job_id": "77", "task": "2", "script": str(script)} and m["shard"] == [2, 4]
    st = sweep_status(d, ask_squeue=False)
    assert st["rerun"] == {"pending_shards": [1, 3], "queued": {}, "squeue": False, "missing": [1, 3], "script": str(script),
                           "command": f"sbatch --array=1,3 {script}"}
    from archsweep.cli import main

    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))  # squeue cannot be asked
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["status", str(d)]) == 0
    out = capsys.readouterr().out
    assert "shards with chunks pending and no task in the queue: 1,3; squeue could not say" in out
    assert f"  sbatch --array=1,3 {script}\n" in out


# --------------------------------------------------------------------------------------------
# a real SLURM on localhost


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[Slurm]:
    missing = missing_binaries()
    if missing:
        msg = f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
        if REQUIRED:
            pytest.fail(msg + " (CI requires it: .ci/run installs it)")
        pytest.skip(msg)
    with one_node_slurm(tmp_path_factory.mktemp("slurm"), NODE_CPUS) as s:
        yield s


@pytest.fixture
def work(tmp_path) -> Path:
    """A submit directory: the repository's data/ as data/ (the docs' relative paths)."""
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def submit(slurm: Slurm, work: Path, *args: str) -> str:
    r = slurm.run("sbatch", *args, cwd=work)
    m = re.fullmatch(r"Submitted batch job (\d+)\s*", r.stdout)
    assert m, r.stdout
    return m.group(1)


def status_json(slurm: Slurm, d: Path) -> dict:
    r = slurm.run(sys.executable, "-m", "archsweep", "status", str(d), "--format", "json", check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_complete(slurm: Slurm, d: Path, n: int, local: pl.DataFrame) -> None:
    r = slurm.run(sys.executable, "-m", "archsweep", "status", str(d))
    assert "complete" in r.stdout and "sbatch" not in r.stdout, r.stdout
    ids = archsweep.scan(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == n and ids.n_unique() == n
    assert_frame_equal(archsweep.scan(d).collect(), local)
    assert verify_dataset(d) == []


def test_documented_job_array(slurm, work):
    out = work / "vgg"
    (work / "job.sh").write_text(substitute(doc_block("bash", "--shard auto"), JOB_ARRAY, out))
    job = submit(slurm, work, "job.sh")  # as the doc says: sbatch job.sh
    # status while the array runs: 2 tasks at a time on the node's 2 CPUs, the others wait
    deadline = time.monotonic() + 120
    while not list(out.glob("_manifest.shard-*")):
        assert slurm.queued(job) and time.monotonic() < deadline, slurm.logs(work)
        time.sleep(0.05)
    before = {k.split("_")[1] for k in slurm.queued(job)}
    st = status_json(slurm, out)
    after = {k.split("_")[1] for k in slurm.queued(job)}
    assert before, "every task had ended before status was asked"
    assert st["chunks"] == 12 and [s["shard"] for s in st["shards"]] == ["0/4", "1/4", "2/4", "3/4"]
    if st["rerun"] is not None:  # shards with chunks pending: those in the queue throughout are not to be rerun
        assert st["rerun"]["squeue"] is True
        assert not set(map(str, st["rerun"]["missing"])) & before & after
        assert set(st["rerun"]["queued"]) <= before | after
    states = slurm.wait(job, logs_of=work)
    assert states == {str(k): "COMPLETED" for k in range(4)}, slurm.logs(work)
    st = status_json(slurm, out)
    assert st["done"] == 12 and st["pending"] == [] and st["rerun"] is None
    assert [(s["shard"], s["done"], s["pending"]) for s in st["shards"]] == [(f"{k}/4", 3, 0) for k in range(4)]
    check_complete(slurm, out, 120_000, archsweep.sweep(Space.load(VGG), sample=120_000, seed=0))
    m = read_manifest(out / "_manifest.shard-3-of-4.parquet")
    assert m["slurm"] == {"array_job_id": job, "task": "3", "script": str(work / "job.sh")}


def submit_two_shards(slurm: Slurm, work: Path) -> tuple[Path, str, float]:
    """The documented job array cut to two shards of six chunks (KILLED_ARRAY), submitted;
    returns once shard 1 (chunks 1, 3, 5, 7, 9, 11) has finished its first chunk and is
    computing the next: the output directory, the job id and a deadline 120 s on."""
    out = work / "vgg"
    (work / "job.sh").write_text(substitute(doc_block("bash", "--shard auto"), KILLED_ARRAY, out))
    job = submit(slurm, work, "job.sh")
    deadline = time.monotonic() + 120
    while not (out / "part-00000001.parquet").exists():
        assert f"{job}_1" in slurm.queued(job) and time.monotonic() < deadline, slurm.logs(work)
        time.sleep(0.01)
    return out, job, deadline


def test_task_killed_mid_chunk_then_the_rerun_status_prints(slurm, work):
    out, job, _ = submit_two_shards(slurm, work)
    slurm.run("scancel", "-s", "KILL", f"{job}_1")
    killed_at = sorted(p.name for p in out.glob("part-*.parquet"))
    states = slurm.wait(job, logs_of=work)
    assert states["0"] == "COMPLETED" and states["1"] != "COMPLETED", (states, slurm.logs(work))
    st = status_json(slurm, out)
    pending = [k for k in range(12) if k % 2 == 1 and f"part-{k:08d}.parquet" not in set(killed_at)]
    assert pending, "shard 1 was complete before the kill"
    assert st["pending"] and set(st["pending"]) <= set(pending) and all(k % 2 == 1 for k in st["pending"])
    assert st["rerun"]["missing"] == [1] and st["rerun"]["queued"] == {}
    command = st["rerun"]["command"]
    assert command == f"sbatch --array=1 {work / 'job.sh'}"
    r = slurm.run(sys.executable, "-m", "archsweep", "status", str(out))
    assert f"  {command}\n" in r.stdout and "shards with chunks pending and no task in the queue: 1;" in r.stdout, r.stdout
    # the documented rerun: the very command status printed
    r = subprocess.run(command, shell=True, capture_output=True, text=True, env=slurm.env, cwd=work, timeout=60)
    assert r.returncode == 0, r.stderr
    rerun = re.fullmatch(r"Submitted batch job (\d+)\s*", r.stdout).group(1)
    assert slurm.wait(rerun, logs_of=work) == {"1": "COMPLETED"}, slurm.logs(work)
    check_complete(slurm, out, 2_400_000, archsweep.sweep(Space.load(VGG), sample=2_400_000, seed=0, chunk_rows=200_000))
    assert read_manifest(out / "_manifest.shard-1-of-2.parquet")["slurm"]["array_job_id"] == rerun


def test_requeued_task_resumes_its_shard(slurm, work):
    # #SBATCH --requeue: `scontrol requeue` (as preemption does) kills the task and queues it again
    out, job, deadline = submit_two_shards(slurm, work)
    slurm.run("scontrol", "requeue", f"{job}_1")
    while slurm.queued(job).get(f"{job}_1") != "PENDING":
        assert time.monotonic() < deadline, slurm.logs(work)
        time.sleep(0.05)
    kept = [k for k in range(1, 12, 2) if (out / f"part-{k:08d}.parquet").exists()]
    assert len(kept) < 6, "shard 1 was complete before the requeue"
    # SLURM holds a requeued task for cred_expire + 1 s before it starts again (the fixture's
    # slurm.conf sets cred_expire=5; 121 s by default)
    assert slurm.wait(job, logs_of=work) == {"0": "COMPLETED", "1": "COMPLETED"}, slurm.logs(work)
    log = (work / f"slurm-{job}_1.out").read_text()
    # the restarted task kept the parts its shard had (the killed process may have linked one more
    # in the moment before it died) and computed the others
    m = re.search(r"(\d+) part files written, (\d+) already done", log)
    assert m and int(m.group(1)) + int(m.group(2)) == 6 and len(kept) <= int(m.group(2)) < 6, log
    check_complete(slurm, out, 2_400_000, archsweep.sweep(Space.load(VGG), sample=2_400_000, seed=0, chunk_rows=200_000))


def test_slurmcluster_recipe_with_a_worker_job_cancelled(slurm, work):
    import dask_jobqueue  # noqa: F401  (the test extra installs it)

    out = work / "vgg"
    code = substitute(doc_block("python", "SLURMCluster"), RECIPE, out)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=work, env=slurm.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 180
        # both worker jobs run and a chunk is done: cancel one of the jobs while chunks remain
        while not (len(list(out.glob("part-*.parquet"))) >= 1 and len(
                [j for j, state in slurm.queued().items() if state == "RUNNING"]) == 2):
            assert proc.poll() is None and time.monotonic() < deadline, (proc.communicate()[0] if proc.poll() is not None else "", slurm.logs(work))
            time.sleep(0.02)
        victim = sorted(slurm.queued())[0]
        slurm.run("scancel", victim)
        cancelled_at = len(list(out.glob("part-*.parquet")))
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output + slurm.logs(work)
    assert cancelled_at < 24, "cancel earlier: the run was complete"
    assert slurm.wait(victim) == {victim: "CANCELLED"}
    check_complete(slurm, out, 1_200_000, archsweep.sweep(Space.load(VGG), sample=1_200_000, seed=0))
    assert read_manifest(out / "_manifest.parquet")["failed"] == {}
