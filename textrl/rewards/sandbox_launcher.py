"""Runs as a separate `python -I -S` process (never imported): isolates itself, then execs the
untrusted program. Kept free of textrl imports so it starts in milliseconds.

argv[1] is a JSON config from textrl.rewards.sandbox. The launcher writes a JSON report of what it
managed to enforce to the file descriptor cfg["report_fd"], then execs cfg["argv"] with an empty
environment. Order matters: namespaces while still privileged, then the fork that makes the program
PID 1 of its own PID namespace (its death kills every process it started), then rlimits, then the
drop to an unprivileged uid (root's RLIMIT_NPROC is not enforced by the kernel).
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
MNT_DETACH = 2
REFUSED = 97  # exit status when a required protection could not be put in place

cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
report = {"net": False, "pid": False, "tmpfs": [], "uid": os.getuid(), "rlimits": False}


def fail(msg):
    os.write(cfg["report_fd"], json.dumps({**report, "refused": msg}).encode() + b"\n")
    os._exit(REFUSED)


def unshare(flags):
    return libc.unshare(flags) == 0


root = os.geteuid() == 0
base = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS


def map_own_ids(uid, gid):
    """In a new user namespace, be our own uid/gid again (unmapped ids cannot create files)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)  # no O_TRUNC: proc refuses it
        os.write(fd, text.encode())
        os.close(fd)


outer_ids = os.getuid(), os.getgid()  # before unshare: inside a new user namespace they read 65534
if unshare(base if root else base | CLONE_NEWUSER):
    report["net"] = report["pid"] = True
    if not root:
        map_own_ids(*outer_ids)
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0:
        # world-writable places get a throwaway tmpfs; the working directory (which may live in
        # /tmp) is bind-mounted back at its own path from a descriptor opened before the masking
        cwd, cwd_fd = os.getcwd(), os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        for d in ("/tmp", "/var/tmp", "/dev/shm"):
            if os.path.isdir(d) and libc.mount(b"tmpfs", d.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                                               b"size=16m,mode=1777") == 0:
                report["tmpfs"].append(d)
        if not os.path.isdir(cwd):
            try:
                os.makedirs(cwd)
                bound = libc.mount(f"/proc/self/fd/{cwd_fd}".encode(), cwd.encode(), None, MS_BIND, None) == 0
            except OSError:
                bound = False
            if not bound:
                for d in report["tmpfs"]:  # cannot keep both: keep the working directory reachable
                    libc.umount2(d.encode(), MNT_DETACH)
                report["tmpfs"] = []
        os.chdir(cwd)
        os.close(cwd_fd)
elif unshare(CLONE_NEWNET if root else CLONE_NEWNET | CLONE_NEWUSER):
    report["net"] = True

if report["pid"]:
    child = os.fork()
    if child:
        # the program may leave our process group (setsid); the caller kills it by this pid
        os.write(cfg["report_fd"], json.dumps({"child_pid": child}).encode() + b"\n")
        os.close(cfg["report_fd"])
        _, status = os.waitpid(child, 0)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

limits = cfg["rlimits"]
try:
    for name, value in limits.items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))
    report["rlimits"] = True
except (ValueError, OSError) as err:
    fail(f"rlimits: {err}")

if root:
    uid = cfg["uid"]
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError as err:
        fail(f"dropping to uid {uid}: {err}")
    if os.getuid() != uid or os.geteuid() != uid:
        fail(f"still uid {os.getuid()} after setuid({uid})")
    report["uid"] = uid

os.write(cfg["report_fd"], json.dumps(report).encode() + b"\n")
os.close(cfg["report_fd"])
os.execve(cfg["argv"][0], cfg["argv"], {})
