"""Runs as a separate `python -I -S` process (never imported): isolates itself, then execs the
untrusted program. Kept free of textrl imports so it starts in milliseconds.

argv[1] is a JSON config from textrl.rewards.sandbox. The launcher writes a JSON report of what it
managed to enforce to the file descriptor cfg["report_fd"], then execs cfg["argv"] with an empty
environment. Order matters: namespaces while still privileged, then the file system (private tmpfs
over the world-writable places, the working directory bound back writable, every inherited mount
remounted read-only in this private mount namespace, an empty read-only /proc), then the fork that
makes the program PID 1 of its own PID namespace (its death kills every process it started), then
rlimits, then the drop to an unprivileged uid (root's RLIMIT_NPROC is not enforced by the kernel).

The read-only remounts are bind remounts (MS_REMOUNT | MS_BIND) of this namespace's copies of the
mounts, after the whole tree was made MS_PRIVATE: the host's mounts never change. They work without
root inside the user namespace the non-root path creates, which is what protects the caller's files
when there is no throwaway uid to run as.
"""
import ctypes
import json
import os
import re
import resource
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
MNT_DETACH = 2
REFUSED = 97  # exit status when a required protection could not be put in place

cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
report = {"net": False, "pid": False, "tmpfs": [], "uid": os.getuid(), "rlimits": False,
          "readonly": False, "readonly_failed": [], "proc_hidden": False, "workdir_capped": False,
          "no_processes": False}


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


def mount_points():
    """Mount points of this mount namespace, in /proc/self/mountinfo order (octal escapes decoded)."""
    points = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f.read().decode("utf-8", "surrogateescape").splitlines():
            field = line.split(" ")[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field))
    return points


def kept_flags(path):
    """The flags a bind remount must repeat (the kernel refuses to clear locked ones)."""
    f = os.statvfs(path).f_flag
    flags = 0
    for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                   (os.ST_NODIRATIME, MS_NODIRATIME)):
        if f & st:
            flags |= ms
    if f & os.ST_NOATIME:
        flags |= MS_NOATIME
    elif f & os.ST_RELATIME:
        flags |= MS_RELATIME
    else:
        flags |= MS_STRICTATIME
    return flags, bool(f & os.ST_RDONLY)


def covered(path, tops):
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in tops)


def copy_into_tmpfs(src_fd, path):
    """Mount a private tmpfs of cfg["workdir_mb"] at path, owned by the program's uid, holding a copy
    of the regular files of the directory src_fd."""
    uid = cfg["uid"] if root else os.getuid()
    options = f"size={cfg['workdir_mb']}m,mode=700,uid={uid},gid={uid}".encode()
    if libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        return False
    try:
        for name in os.listdir(src_fd):
            with os.fdopen(os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd), "rb") as f, \
                    open(os.path.join(path, name), "wb") as out:
                out.write(f.read())
            if root:
                os.chown(os.path.join(path, name), uid, uid)
    except OSError:
        libc.umount2(path.encode(), MNT_DETACH)
        return False
    report["workdir_capped"] = True
    return True


def protect_files():
    """Private tmpfs over /tmp, /var/tmp, /dev/shm; the working directory bound back writable; every
    inherited mount read-only; an empty read-only tmpfs over /proc. Called in a private mount
    namespace; each step reports what it achieved."""
    # world-writable places get a throwaway tmpfs; the working directory (which may live in
    # /tmp) is bind-mounted back at its own path from a descriptor opened before the masking
    cwd, cwd_fd = os.getcwd(), os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        inherited = mount_points()
    except OSError:
        inherited = None
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run"):  # also hides host Unix sockets kept there
        if os.path.isdir(d) and not os.path.islink(d) and libc.mount(b"tmpfs", d.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                                           b"size=16m,mode=1777") == 0:
            report["tmpfs"].append(d)
    hidden = covered(cwd, report["tmpfs"])
    try:
        os.makedirs(cwd, exist_ok=True)
        # always a mount of its own (also when still visible), so it stays writable below: a
        # size-capped tmpfs holding a copy of the files (nothing the program writes reaches the
        # host's disk), else the directory itself bound back
        bound = copy_into_tmpfs(cwd_fd, cwd) or libc.mount(f"/proc/self/fd/{cwd_fd}".encode(), cwd.encode(),
                                                            None, MS_BIND, None) == 0
    except OSError:
        bound = False
    if not bound and hidden:
        for d in report["tmpfs"]:  # cannot keep both: keep the working directory reachable
            libc.umount2(d.encode(), MNT_DETACH)
        report["tmpfs"] = []
    os.chdir(cwd)
    os.close(cwd_fd)
    if bound and inherited is not None:
        ours = report["tmpfs"] + [cwd]
        failed = []
        for point in dict.fromkeys(inherited):  # each path once; a remount hits the top mount there
            if covered(point, ours):
                continue  # one of ours, or hidden under a private tmpfs: not reachable anyway
            try:
                flags, already = kept_flags(point)
            except (FileNotFoundError, PermissionError):
                continue  # gone, or somewhere this user (and so the program) cannot reach
            except OSError:
                failed.append(point)
                continue
            if already:
                continue
            if libc.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None) != 0:
                failed.append(point)
        report["readonly_failed"] = failed
        report["readonly"] = not failed
    if os.path.isdir("/proc") and libc.mount(b"tmpfs", b"/proc", b"tmpfs",
                                             MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                             b"size=4k,mode=555") == 0:
        report["proc_hidden"] = True


# Syscall numbers of what forbid_processes refuses: x86_64 (asm/unistd_64.h) and the generic table
# arm64 uses (asm-generic/unistd.h). "clone" is allowed for threads only; clone3 answers ENOSYS so
# that pthread_create falls back to clone.
SYSCALLS = {
    "x86_64": {"arch": 0xC000003E, "clone": 56, "clone3": 435, "socket": 41,
               "denied": [57, 58, 53, 101, 165, 166, 155, 161, 272, 308, 250, 298, 321, 323, 310, 311,
                          425, 426, 427, 428, 429, 430, 431, 432, 433]},
    "aarch64": {"arch": 0xC00000B7, "clone": 220, "clone3": 435, "socket": 198,
                "denied": [199, 117, 40, 39, 41, 51, 97, 268, 219, 241, 280, 282, 270, 271,
                           425, 426, 427, 428, 429, 430, 431, 432, 433]},
}
CLONE_THREAD, AF_UNIX, EPERM, ENOSYS = 0x10000, 1, 1, 38


def forbid_processes():
    """A seccomp filter for the program and all it runs: no new processes (fork, vfork, clone
    without CLONE_THREAD: threads stay allowed), no Unix sockets (the host's are reachable by path
    even on read-only mounts), no socketpair, ptrace, mount, namespaces, keyrings, bpf, perf,
    userfaultfd, cross-process memory access or io_uring (which would bypass the filter). With one
    process, every per-process rlimit is a limit on the whole sandbox. Foreign-architecture calls
    (i386, x32) are refused too. True when installed."""
    table = SYSCALLS.get(os.uname().machine)
    if table is None:
        return False
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, deny, nosys = 0x7FFF0000, 0x00050000 | EPERM, 0x00050000 | ENOSYS
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, table["arch"]), (ret, 0, 0, deny), (ld, 0, 0, 0),
            (jge, 0, 1, 0x40000000), (ret, 0, 0, deny),
            (jeq, 0, 4, table["clone"]), (ld, 0, 0, 16), (jset, 0, 1, CLONE_THREAD), (ret, 0, 0, allow),
            (ret, 0, 0, deny),
            (jeq, 0, 1, table["clone3"]), (ret, 0, 0, nosys),
            (jeq, 0, 3, table["socket"]), (ld, 0, 0, 16), (jeq, 0, 1, AF_UNIX), (ret, 0, 0, deny),
            (ret, 0, 0, allow)]
    # each denied number: "jeq n -> deny" where deny is the last instruction
    checks = table["denied"]
    tail = [(jeq, len(checks) - k, 0, n) for k, n in enumerate(checks)] + [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    # the socket branch's "not AF_UNIX" case and the nr fall-through both continue to the checks
    prog[-1] = (ld, 0, 0, 0)
    prog += tail

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(*i) for i in prog])
    program = Program(len(prog), filters)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) == 0


outer_ids = os.getuid(), os.getgid()  # before unshare: inside a new user namespace they read 65534
if unshare(base if root else base | CLONE_NEWUSER):
    report["net"] = report["pid"] = True
    if not root:
        map_own_ids(*outer_ids)
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0:
        protect_files()
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

report["no_processes"] = forbid_processes()
os.write(cfg["report_fd"], json.dumps(report).encode() + b"\n")
os.close(cfg["report_fd"])
os.execve(cfg["argv"][0], cfg["argv"], {})
