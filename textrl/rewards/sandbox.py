"""Run untrusted Python in a child process that cannot outlive its limits or reach out.

Enforced: wall-clock timeout (kill of the whole process group), RLIMIT_CPU / AS / NPROC / FSIZE /
NOFILE / CORE, its own temporary directory as cwd, an empty environment, and, where the OS allows
(see `isolation()`):
- a seccomp filter: no new processes (threads are allowed), so the memory and CPU limits, which
  the kernel applies per process, hold for the whole sandbox; no Unix sockets (a host socket is
  reachable by path even on a read-only mount); no ptrace, mount, namespaces, io_uring;
- a new network namespace (no network) and a new PID namespace (nothing it starts outlives it);
- a private mount namespace: the working directory is a size-capped private tmpfs holding a copy
  of its files (nothing written reaches the host's disk); /tmp, /var/tmp, /dev/shm and /run are
  private tmpfs; every other inherited mount is remounted read-only; /proc is an empty tmpfs.
When textrl runs as root the program also gets an unprivileged throwaway uid, without which the
kernel would not enforce RLIMIT_NPROC. When not root, the namespaces come from a user namespace,
and the read-only remounts are what protect the caller's files: the program runs as the calling
user, so where neither a user namespace nor a throwaway uid is available (and no seccomp), its
files and its limits are per process only, and `isolation()["not_enforced"]` says so. cgroups are
not used: with no second process there is nothing for them to add, and they need delegation that
unprivileged users rarely have.
"""
from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LAUNCHER = Path(__file__).with_name("sandbox_launcher.py")
REFUSED = 97
UID_BASE, UID_SPAN = 1 << 20, 1 << 22  # far from real accounts; one fresh uid per run


@dataclass(frozen=True)
class Limits:
    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 512
    nproc: int = 32  # processes + threads the program may have at once
    fsize_mb: int = 8
    nofile: int = 64
    output_bytes: int = 64_000  # stdout / stderr read back at most
    workdir_mb: int = 16  # the working directory is a private tmpfs of this size, where one can be mounted


@dataclass
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    enforced: dict = field(default_factory=dict)


def _world_runnable(path: str) -> bool:
    """Can an unprivileged stranger (other bits only) execute this interpreter and read its stdlib?"""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & stat.S_IXOTH:
            return False
        return all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def sandbox_python() -> str:
    """The interpreter the sandboxed program runs with (must be reachable by the throwaway uid)."""
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), shutil.which("python3") or "",
                  "/usr/bin/python3"]
    if os.geteuid() != 0:
        return sys.executable
    for c in candidates:
        if c and os.path.exists(c) and _world_runnable(c):
            return c
    raise RuntimeError("no Python interpreter is executable by an unprivileged uid; "
                       "install one outside root-only directories (e.g. /usr/bin/python3)")


def _uid_processes(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def _kill_uid(uid: int) -> None:
    """Belt and braces after the PID namespace: nothing running as the throwaway uid survives."""
    for _ in range(100):
        pids = _uid_processes(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _rlimits(limits: Limits, root: bool) -> dict:
    nproc = limits.nproc
    if not root:  # RLIMIT_NPROC counts every process of the user, not just this program's
        nproc += len(_uid_processes(os.getuid()))
    mb = 1 << 20
    return {"RLIMIT_CPU": [limits.cpu_s, limits.cpu_s + 1], "RLIMIT_AS": limits.memory_mb * mb,
            "RLIMIT_NPROC": nproc, "RLIMIT_FSIZE": limits.fsize_mb * mb, "RLIMIT_NOFILE": limits.nofile,
            "RLIMIT_CORE": 0}


@dataclass
class _Started:
    proc: subprocess.Popen
    box: Path
    uid: int
    report_r: int
    start: float


def _start(files: dict[str, str], args: list[str], limits: Limits, *, stdin, stdout=None,
           keep_fds: tuple[int, ...] = ()) -> _Started:
    """Write `files` into a fresh directory and start `python -I *args` there under `limits`.
    stdin/stdout: a file or descriptor (stdout defaults to a write-only file in the box);
    keep_fds: descriptors the program inherits."""
    root = os.geteuid() == 0
    uid = UID_BASE + secrets.randbelow(UID_SPAN) if root else os.getuid()
    box = Path(tempfile.mkdtemp(prefix="textrl-sandbox-"))
    work = box / "work"
    work.mkdir()
    for name, text in files.items():
        (work / name).write_text(text)
    if root:
        for p in [work, *work.iterdir()]:
            os.chown(p, uid, uid)
        # the throwaway uid must traverse the box to reach work/ (under /tmp the launcher rebuilds
        # the path on a tmpfs, elsewhere it is this directory); its other files stay 0600
        box.chmod(0o711)
    work.chmod(0o700)
    report_r, report_w = os.pipe()
    cfg = {"report_fd": report_w, "uid": uid, "rlimits": _rlimits(limits, root), "workdir_mb": limits.workdir_mb,
           "argv": [sandbox_python(), "-I", *args]}
    # write-only for the program: it cannot read back what it wrote there
    out = open(os.open(box / "stdout", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
    err = open(os.open(box / "stderr", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(cfg)],
                                cwd=work, env={}, stdin=stdin, stdout=out if stdout is None else stdout,
                                stderr=err, pass_fds=(report_w, *keep_fds), start_new_session=True)
    except BaseException:
        os.close(report_r)
        shutil.rmtree(box, ignore_errors=True)
        raise
    finally:
        os.close(report_w)
        out.close()
        err.close()
    return _Started(proc, box, uid, report_r, time.monotonic())


def _finish(run: _Started, limits: Limits) -> tuple[str, str, dict]:
    """Kill the program and everything it started, remove its box: (stdout, stderr, what was enforced)."""
    try:
        try:
            os.killpg(run.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        run.proc.wait()
        with os.fdopen(run.report_r, "rb") as r:
            enforced = {k: v for line in r.read().splitlines() for k, v in json.loads(line).items()}
        if "child_pid" in enforced:
            try:
                os.kill(enforced.pop("child_pid"), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if os.geteuid() == 0:
            _kill_uid(run.uid)
        with open(run.box / "stdout", "rb") as out, open(run.box / "stderr", "rb") as err:
            stdout = out.read(limits.output_bytes).decode(errors="replace")
            stderr = err.read(limits.output_bytes).decode(errors="replace")
    finally:
        shutil.rmtree(run.box, ignore_errors=True)
    if run.proc.returncode == REFUSED and "refused" in enforced:
        raise RuntimeError(f"sandbox refused to run the program: {enforced['refused']}")
    return stdout, stderr, enforced


def _wait(run: _Started, limits: Limits) -> bool:
    """Wait for the program until its wall-clock limit; True when it ran out of time."""
    try:
        run.proc.wait(timeout=max(0.0, limits.wall_s - (time.monotonic() - run.start)))
        return False
    except subprocess.TimeoutExpired:
        return True


def run_python(files: dict[str, str], main: str, *, stdin: str = "", limits: Limits = Limits()) -> SandboxResult:
    """Write `files` into a fresh directory and run `python -I main` there under `limits`."""
    with tempfile.TemporaryFile() as inp:
        inp.write(stdin.encode())
        inp.seek(0)
        run = _start(files, [main], limits, stdin=inp)
        timed_out = True
        try:
            timed_out = _wait(run, limits)
        finally:
            stdout, stderr, enforced = _finish(run, limits)
    return SandboxResult(None if timed_out else run.proc.returncode, stdout, stderr, timed_out,
                         time.monotonic() - run.start, enforced)


def run_connected(files: dict[str, str], args: list[str], peer_files: dict[str, str], peer_args: list[str],
                  limits: Limits = Limits()) -> SandboxResult:
    """Run two programs in two sandboxes of their own, connected by two pipes and nothing else: the
    peer's stdin and stdout are the other ends of descriptors appended to the main program's args
    (to the peer, from the peer). The main program's result is returned; the peer ends with it."""
    to_peer_r, to_peer_w = os.pipe()
    from_peer_r, from_peer_w = os.pipe()
    runs = []
    timed_out = True
    try:
        runs.append(_start(peer_files, peer_args, limits, stdin=to_peer_r, stdout=from_peer_w))
        runs.append(_start(files, [*args, str(to_peer_w), str(from_peer_r)], limits, stdin=subprocess.DEVNULL,
                           keep_fds=(to_peer_w, from_peer_r)))
        for fd in (to_peer_r, to_peer_w, from_peer_r, from_peer_w):
            os.close(fd)
        to_peer_r = to_peer_w = from_peer_r = from_peer_w = -1
        timed_out = _wait(runs[-1], limits)
    finally:
        for fd in (to_peer_r, to_peer_w, from_peer_r, from_peer_w):
            if fd >= 0:
                os.close(fd)
        outputs, refused = [], None
        for run in reversed(runs):
            try:
                outputs.append(_finish(run, limits))
            except RuntimeError as err:
                refused = err
        if refused is not None:
            raise refused
    (stdout, stderr, enforced), main = outputs[0], runs[-1]
    return SandboxResult(None if timed_out else main.proc.returncode, stdout, stderr, timed_out,
                         time.monotonic() - main.start, enforced)


@functools.lru_cache(maxsize=1)
def isolation() -> dict:
    """What this machine enforces, probed once: {"network", "pid_namespace", "private_tmp",
    "unprivileged_uid", "readonly_fs", "proc_hidden", "file_protection", "rlimits", "nproc_limit",
    "no_processes", "workdir_capped": bool, "not_enforced": [what is missing, in words]}.
    file_protection: the program cannot write or delete files outside its working directory (a
    throwaway uid, or read-only mounts). no_processes: it cannot start processes (so its memory and
    CPU limits hold for everything it does) nor reach Unix sockets (a seccomp filter)."""
    r = run_python({"probe.py": "print('ok')"}, "probe.py", limits=Limits(wall_s=10))
    e = r.enforced
    root = os.geteuid() == 0
    facts = {"network": bool(e.get("net")), "pid_namespace": bool(e.get("pid")),
             "private_tmp": "/tmp" in e.get("tmpfs", []), "unprivileged_uid": root and e.get("uid", 0) != 0,
             "readonly_fs": bool(e.get("readonly")), "proc_hidden": bool(e.get("proc_hidden")),
             "rlimits": bool(e.get("rlimits")), "no_processes": bool(e.get("no_processes")),
             "workdir_capped": bool(e.get("workdir_capped"))}
    facts["file_protection"] = facts["unprivileged_uid"] or facts["readonly_fs"]
    facts["nproc_limit"] = facts["rlimits"] and (not root or facts["unprivileged_uid"])
    notes = {"network": "network access (no network namespace allowed here)",
             "pid_namespace": "cleanup of processes that leave the process group (no PID namespace)",
             "private_tmp": "writes to /tmp, /var/tmp, /dev/shm, /run (no private mount namespace)",
             "file_protection": "file-system protection beyond the working directory (runs as the calling "
                                "user without read-only mounts: it can write and delete the user's files, "
                                "and reach its grader's box)",
             "proc_hidden": "hiding /proc (the program can see other processes)",
             "no_processes": "a whole-sandbox limit (no seccomp filter: the program can fork, and each "
                             "process gets its own memory and CPU limit) and the refusal of host Unix sockets",
             "workdir_capped": f"a size cap on the working directory (only files over "
                               f"{Limits.fsize_mb} MB each are refused)"}
    facts["not_enforced"] = [msg for k, msg in notes.items() if not facts[k]]
    return facts
