"""Job arrays: the shard count a directory records, ``--shard auto``, and the command that
finishes the missing shards.

A job array's shards each write ``_manifest.shard-I-of-N.parquet``: the first submission fixes N
and every shard manifest records it. A rerun or requeue of any subset of the array's indices must
cut the run into the same N shards, whatever its own ``SLURM_ARRAY_TASK_COUNT`` says (``sbatch
--array=1,5`` sets it to 2), so:

- an explicit ``--shard I/M`` on a directory that holds shards of N != M is refused, naming N;
- ``--shard auto`` takes I from ``SLURM_ARRAY_TASK_ID`` and N from the directory; before any
  shard has written its manifest, from the array's own bounds, which must then be ``0..N-1``
  (``SLURM_ARRAY_TASK_MIN`` 0, ``SLURM_ARRAY_TASK_MAX`` N-1, ``SLURM_ARRAY_TASK_COUNT`` N).

A shard run inside a SLURM job records the array's job id and its batch script in its manifest
(``slurm``), so ``archsweep status`` can print ``sbatch --array=1,5 /path/job.sh`` for the shards
with chunks pending, leaving out the tasks ``squeue`` still lists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from archsweep import _core

_SHARD_MANIFEST_RE = re.compile(r"^_manifest\.shard-(\d+)-of-(\d+)\.(?:parquet|json)$")
#: Seconds to wait for scontrol and squeue (a busy controller answers in milliseconds).
SLURM_TIMEOUT = 10.0


def recorded_shard_counts(directory: str | Path) -> dict[int, list[str]]:
    """The shard counts N of the shard manifests in ``directory``: N -> their file names."""
    d = Path(directory)
    out: dict[int, list[str]] = {}
    if not d.is_dir():
        return out
    for p in sorted(d.iterdir()):
        m = _SHARD_MANIFEST_RE.match(p.name)
        if m:
            out.setdefault(int(m.group(2)), []).append(p.name)
    return out


def _counts_text(counts: dict[int, list[str]]) -> str:
    return " and ".join(f"{n} (_manifest.shard-*-of-{n}.parquet)" for n in sorted(counts))


def check_shard_count(directory: str | Path, shard: tuple[int, int]) -> None:
    """Refuse ``shard`` (I, M) if ``directory`` holds shards of another count."""
    counts = recorded_shard_counts(directory)
    i, m = shard
    if not counts or m in counts:
        return
    if len(counts) == 1:
        (n,) = counts
        fix = f"--shard {i}/{n}" if 0 <= i < n else f"a shard I/{n} with 0 <= I < {n}"
        raise _core.ArchsweepError(
            f"shard {i}/{m}: {directory} holds a job array of {n} shards (_manifest.shard-*-of-{n}.parquet, fixed by its first "
            f"submission); {m} shard{'s' if m != 1 else ''} would cut its chunks differently: pass {fix}, or --shard auto, which reads the count "
            f"from the directory (a rerun of some array indices, sbatch --array=1,5, sets SLURM_ARRAY_TASK_COUNT to 2)")
    raise _core.ArchsweepError(f"shard {i}/{m}: {directory} holds shards of {_counts_text(counts)}: "
                               f"remove the manifests of the count that is not the run's")


def _env_int(env: dict[str, str], name: str) -> int | None:
    v = env.get(name)
    if v is None or v.strip() == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise _core.ArchsweepError(f"--shard auto: {name}={v!r} is not an integer") from None


def auto_shard(directory: str | Path, env: dict[str, str] | None = None) -> tuple[int, int]:
    """The shard (I, N) of ``--shard auto``: I = ``SLURM_ARRAY_TASK_ID``, N = the count the
    directory records, else (first submission) the array's own bounds, which must be 0..N-1."""
    env = dict(os.environ) if env is None else env
    i = _env_int(env, "SLURM_ARRAY_TASK_ID")
    if i is None:
        raise _core.ArchsweepError(
            "--shard auto takes the shard from SLURM_ARRAY_TASK_ID, which is not set: run it as a task of a SLURM job "
            "array (sbatch --array=0-63 job.sh), or give the shard as I/N")
    counts = recorded_shard_counts(directory)
    if len(counts) > 1:
        raise _core.ArchsweepError(f"--shard auto: {directory} holds shards of {_counts_text(counts)}: "
                                   f"remove the manifests of the count that is not the run's")
    if counts:
        (n,) = counts
        if not 0 <= i < n:
            raise _core.ArchsweepError(
                f"--shard auto: array task {i}, but {directory} holds a job array of {n} shards (0-{n - 1}, fixed by its "
                f"first submission): submit only indices 0-{n - 1}")
        return i, n
    lo, hi = _env_int(env, "SLURM_ARRAY_TASK_MIN"), _env_int(env, "SLURM_ARRAY_TASK_MAX")
    count, step = _env_int(env, "SLURM_ARRAY_TASK_COUNT"), _env_int(env, "SLURM_ARRAY_TASK_STEP")
    if lo is None or hi is None or count is None:
        raise _core.ArchsweepError("--shard auto: SLURM_ARRAY_TASK_MIN, _MAX and _COUNT are not all set: give the shard as I/N")
    if lo != 0 or count != hi + 1 or step not in (None, 1):
        raise _core.ArchsweepError(
            f"--shard auto: {directory} records no shard count yet, and this array (indices {lo}-{hi}, {count} tasks) is not "
            f"0..N-1, so the count is unknown: submit the whole array first (sbatch --array=0-N-1), or give the shard as I/N")
    return i, hi + 1


def context(env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """What a shard manifest records of the SLURM job array it runs in (None outside one):
    ``array_job_id``, ``task``, ``script`` (the batch script's path, from ``scontrol show job``,
    else ``SLURM_SUBMIT_DIR``/``SLURM_JOB_NAME`` if that is a file; None if unknown)."""
    env = dict(os.environ) if env is None else env
    job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if not job or task is None:
        return None
    script = None
    scontrol = shutil.which("scontrol")
    if scontrol and env.get("SLURM_JOB_ID"):
        try:
            r = subprocess.run([scontrol, "show", "job", "-o", env["SLURM_JOB_ID"]], capture_output=True, text=True,
                               timeout=SLURM_TIMEOUT, check=False)
            m = re.search(r"(?:^|\s)Command=(\S+)", r.stdout)
            if r.returncode == 0 and m and os.path.isabs(m.group(1)):
                script = m.group(1)
        except (OSError, subprocess.SubprocessError):
            pass
    if script is None and env.get("SLURM_SUBMIT_DIR") and env.get("SLURM_JOB_NAME"):
        candidate = os.path.join(env["SLURM_SUBMIT_DIR"], env["SLURM_JOB_NAME"])
        if os.path.isfile(candidate):
            script = candidate
    return {"array_job_id": job, "task": task, "script": script}


def queued_tasks(job_ids: list[str]) -> dict[int, str] | None:
    """Array task id -> ``"JOB_TASK STATE"`` of the tasks of ``job_ids`` that ``squeue`` still
    lists (pending, running, requeued...); None when squeue cannot tell (not installed, no
    controller)."""
    squeue = shutil.which("squeue")
    if not squeue or not job_ids:
        return None
    try:
        r = subprocess.run([squeue, "-h", "-r", "-j", ",".join(job_ids), "-o", "%i %K %T"], capture_output=True, text=True,
                           timeout=SLURM_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        # a job id that left the controller's memory is an error for squeue -j: ask for each one
        if len(job_ids) > 1:
            parts = [queued_tasks([j]) for j in job_ids]
            if any(p is None for p in parts):
                return None
            return {k: v for p in parts if p is not None for k, v in p.items()}
        return {} if "Invalid job id" in r.stderr else None
    out: dict[int, str] = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].isdigit():
            out[int(fields[1])] = f"{fields[0]} {fields[2]}"
    return out


def array_indices(ks: list[int]) -> str:
    """[1, 5, 6, 7, 9] -> "1,5-7,9" (sbatch --array's syntax)."""
    out: list[str] = []
    i = 0
    while i < len(ks):
        j = i
        while j + 1 < len(ks) and ks[j + 1] == ks[j] + 1:
            j += 1
        out.append(str(ks[i]) if i == j else f"{ks[i]}-{ks[j]}")
        i = j + 1
    return ",".join(out)


def rerun_plan(shards: list[dict[str, Any]], manifests: dict[str, dict[str, Any]], ask_squeue: bool = True) -> dict[str, Any] | None:
    """What finishes a job array's run: the shards with chunks pending, those of them that
    ``squeue`` still lists (they finish on their own), and ``sbatch --array=... SCRIPT`` for the
    rest. None if no shard has chunks pending."""
    pending = [int(s["shard"].split("/")[0]) for s in shards if s["pending"]]
    if not pending:
        return None
    records = [m["slurm"] for m in manifests.values() if isinstance(m.get("slurm"), dict)]
    jobs = sorted({str(r["array_job_id"]) for r in records if r.get("array_job_id")}, key=lambda j: (len(j), j))
    scripts = [r["script"] for r in records if r.get("script")]
    queued = queued_tasks(jobs) if ask_squeue else None
    in_queue = {k: v for k, v in (queued or {}).items() if k in pending}
    missing = [k for k in pending if k not in in_queue]
    script = max(set(scripts), key=scripts.count) if scripts else None
    command = f"sbatch --array={array_indices(missing)} {script or 'JOB_SCRIPT'}" if missing else None
    return {"pending_shards": pending, "queued": {str(k): v for k, v in sorted(in_queue.items())},
            "squeue": queued is not None, "missing": missing, "script": script, "command": command}
