"""Run untrusted Python in a child process that cannot outlive its limits or reach out.

Enforced: wall-clock timeout (kill of the whole process group), RLIMIT_CPU / AS / NPROC / FSIZE /
NOFILE / CORE, its own temporary directory as cwd, an empty environment, and, where the OS allows
(see `isolation()`): a new network namespace (no network), a new PID namespace (every process it
forks dies with it), and a private mount namespace in which /tmp, /var/tmp and /dev/shm are private
tmpfs, every other inherited mount is remounted read-only (so only the working directory and the
private tmpfs are writable) and /proc is an empty read-only tmpfs (no /proc/self/mem, no other
processes' fds). When textrl runs as root the program also gets an unprivileged throwaway uid,
without which the kernel would not enforce RLIMIT_NPROC. When not root, the mount namespace comes
from a user namespace, and the read-only remounts are what protect the caller's files: the program
runs as the calling user, so where neither a user namespace nor a throwaway uid is available its
files are not protected at all, and `isolation()["not_enforced"]` says so.
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


def run_python(files: dict[str, str], main: str, *, stdin: str = "", limits: Limits = Limits()) -> SandboxResult:
    """Write `files` into a fresh directory and run `python -I main` there under `limits`."""
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
    cfg = {"report_fd": report_w, "uid": uid, "rlimits": _rlimits(limits, root),
           "argv": [sandbox_python(), "-I", main]}
    start = time.monotonic()
    timed_out = False
    try:
        # write-only for the program: it cannot read back what it (or its grader) wrote there
        with open(os.open(box / "stdout", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out, \
                open(os.open(box / "stderr", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as err, \
                tempfile.TemporaryFile() as inp:
            inp.write(stdin.encode())
            inp.seek(0)
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(cfg)],
                                    cwd=work, env={}, stdin=inp, stdout=out, stderr=err,
                                    pass_fds=(report_w,), start_new_session=True)
            os.close(report_w)
            report_w = -1
            try:
                proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                with os.fdopen(report_r, "rb") as r:
                    report_r = -1
                    enforced = {k: v for line in r.read().splitlines() for k, v in json.loads(line).items()}
                if "child_pid" in enforced:
                    try:
                        os.kill(enforced.pop("child_pid"), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if root:
                    _kill_uid(uid)
        with open(box / "stdout", "rb") as out, open(box / "stderr", "rb") as err:
            stdout = out.read(limits.output_bytes).decode(errors="replace")
            stderr = err.read(limits.output_bytes).decode(errors="replace")
    finally:
        for fd in (report_r, report_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(box, ignore_errors=True)
    if proc.returncode == REFUSED and "refused" in enforced:
        raise RuntimeError(f"sandbox refused to run the program: {enforced['refused']}")
    return SandboxResult(None if timed_out else proc.returncode, stdout, stderr, timed_out,
                         time.monotonic() - start, enforced)


@functools.lru_cache(maxsize=1)
def isolation() -> dict:
    """What this machine enforces, probed once: {"network", "pid_namespace", "private_tmp",
    "unprivileged_uid", "readonly_fs", "proc_hidden", "file_protection", "rlimits", "nproc_limit":
    bool, "not_enforced": [what is missing, in words]}. file_protection: the program cannot write
    or delete files outside its working directory (a throwaway uid, or read-only mounts)."""
    r = run_python({"probe.py": "print('ok')"}, "probe.py", limits=Limits(wall_s=10))
    e = r.enforced
    root = os.geteuid() == 0
    facts = {"network": bool(e.get("net")), "pid_namespace": bool(e.get("pid")),
             "private_tmp": "/tmp" in e.get("tmpfs", []), "unprivileged_uid": root and e.get("uid", 0) != 0,
             "readonly_fs": bool(e.get("readonly")), "proc_hidden": bool(e.get("proc_hidden")),
             "rlimits": bool(e.get("rlimits"))}
    facts["file_protection"] = facts["unprivileged_uid"] or facts["readonly_fs"]
    facts["nproc_limit"] = facts["rlimits"] and (not root or facts["unprivileged_uid"])
    notes = {"network": "network access (no network namespace allowed here)",
             "pid_namespace": "cleanup of processes that leave the process group (no PID namespace)",
             "private_tmp": "writes to /tmp, /var/tmp, /dev/shm (no private mount namespace)",
             "file_protection": "file-system protection beyond the working directory (runs as the calling "
                                "user without read-only mounts: it can write and delete the user's files)",
             "proc_hidden": "hiding /proc (the program can read its own memory and see other processes)"}
    facts["not_enforced"] = [msg for k, msg in notes.items() if not facts[k]]
    return facts
