"""A one-node SLURM on localhost, for tests/test_slurm.py and benchmarks/dask_rates.py.

:func:`one_node_slurm` writes ``slurm.conf`` into a directory, starts ``munged`` (its own key and
socket there), ``slurmctld`` and ``slurmd`` (ports picked free, state and spool in the directory,
proctrack/linuxproc: no cgroups, select/cons_tres by CPU; credentials that expire after 5 s and a
scheduler pass every second, so a requeued task starts again after ~6 s, not 2 minutes), waits
until ``sinfo`` shows the node idle, and on exit cancels every job, stops the three daemons and
removes the directory. Clients
reach it through ``Slurm.env`` (``SLURM_CONF``; this Python's bin directory first on PATH, so jobs
run this archsweep). Debian: ``apt-get install slurm-wlm munge``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sinfo", "squeue", "scancel", "scontrol")
#: The partition's name: the one docs/distributed.md's SLURMCluster recipe submits to (queue="cpu").
PARTITION = "cpu"


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin")


def missing_binaries() -> list[str]:
    return [b for b in DAEMONS + CLIENTS if which(b) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Slurm:
    root: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(list(args), capture_output=True, text=True, env=self.env, cwd=cwd, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def queued(self, job: str | None = None) -> dict[str, str]:
        """Jobs squeue lists ("JOB" or "JOB_TASK" -> state), of one job (array) or all."""
        args = ["squeue", "-h", "-r", "-o", "%i %T"] + (["-j", job] if job else [])
        for _ in range(20):  # a busy controller may not answer at once: never read that as "no jobs"
            r = self.run(*args, check=False)
            if r.returncode == 0:
                return dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)
            if "Invalid job id" in r.stderr:  # the job has left the controller's memory
                return {}
            time.sleep(0.5)
        raise AssertionError(f"squeue failed 20 times: {r.stderr}")

    def wait(self, job: str, timeout: float = 240, logs_of: Path | None = None) -> dict[str, str]:
        """Wait until job ``job`` (every task of an array) has left the queue; its tasks' end states."""
        deadline = time.monotonic() + timeout
        while self.queued(job):
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job} still queued after {timeout} s: {self.queued(job)}\n{self.logs(logs_of)}")
            time.sleep(0.2)
        r = self.run("scontrol", "show", "job", "-o", job, check=False)
        states = {}
        for line in r.stdout.splitlines():
            task = re.search(r"ArrayTaskId=(\S+)", line)
            state = re.search(r"JobState=(\S+)", line)
            if state:
                states[task.group(1) if task else job] = state.group(1)
        return states

    def logs(self, where: Path | None = None) -> str:
        """The jobs' output files (slurm-*.out) under ``where``, and the daemons' logs, their ends."""
        files = sorted(where.glob("**/*.out")) if where is not None else []
        files += sorted((self.root / "log").glob("*"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in files)


@contextmanager
def one_node_slurm(root: Path, cpus: int) -> Iterator[Slurm]:
    """A SLURM cluster of one node (localhost, ``cpus`` CPUs, partition ``cpu``) kept in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(exist_ok=True)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = root / "munge.sock"
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=archsweep
SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={sock},cred_expire=5
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={max(1024, mem_mb * 3 // 4)} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
    bin_dir = str(Path(sys.executable).parent)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}, "SLURM_CONF": str(conf),
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "NO_COLOR": "1", "COLUMNS": "200"}
    s = Slurm(root, env)
    log = open(root / "log" / "daemons.out", "ab")  # noqa: SIM115 (closed below)

    def daemon(name: str, *args: str) -> None:
        exe = which(name)
        assert exe is not None, f"{name} is not installed"
        s.procs[name] = subprocess.Popen([exe, *args], stdout=log, stderr=log, env=env, start_new_session=True)

    try:
        daemon("munged", "--foreground", "--force", f"--key-file={key}", f"--socket={sock}", f"--pid-file={root}/munged.pid",
               f"--log-file={root}/log/munged.log", f"--seed-file={root}/munged.seed")
        deadline = time.monotonic() + 30
        while not sock.exists():
            if s.procs["munged"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("munged did not start:\n" + s.logs())
            time.sleep(0.05)
        daemon("slurmctld", "-D", "-i")
        daemon("slurmd", "-D", "-N", "localhost")
        deadline = time.monotonic() + 60
        while s.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip() != "idle":
            dead = [n for n, p in s.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"SLURM did not come up ({', '.join(dead) or 'no idle node after 60 s'}):\n" + s.logs())
            time.sleep(0.2)
        yield s
    finally:
        if "slurmctld" in s.procs and s.procs["slurmctld"].poll() is None:
            s.run("scancel", "--full", "--user", "root", check=False)
            deadline = time.monotonic() + 20
            while s.queued() and time.monotonic() < deadline:
                time.sleep(0.2)
        for name in ("slurmd", "slurmctld", "munged"):
            p = s.procs.get(name)
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
