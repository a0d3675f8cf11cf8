"""Hostile completions against code_execution: each ends within its limits with reward 0 and leaves
the machine and the repository untouched. Limits are short so the whole file runs in seconds.

File-damaging completions only ever target a decoy directory the test creates (never the real
checkout), and those tests skip where the sandbox reports no file protection."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import textrl.rewards.code_exec as code_exec
from textrl.rewards import code_execution, score_batch
from textrl.rewards.sandbox import Limits, SandboxResult, _uid_processes, isolation, run_python, sandbox_python

REPO = Path(__file__).resolve().parents[2]
FAST = {"timeout_s": 1.5, "memory_mb": 256}


def score(code: str, tests: list[str], **kw) -> dict:
    return code_execution("", f"```python\n{code}\n```", {"tests": tests}, **{**FAST, **kw})


def needs_file_protection():
    if not isolation()["file_protection"]:
        pytest.skip("this sandbox cannot protect files outside its directory here: "
                    + "; ".join(isolation()["not_enforced"]))


def _make_decoy(parent: Path) -> Path | None:
    try:
        root = Path(tempfile.mkdtemp(prefix=".sandbox-decoy-", dir=parent))
    except OSError:
        return None
    root.chmod(0o755)  # visible to the sandbox's uid, like a checkout
    (root / "textrl" / "rewards").mkdir(parents=True)
    (root / "textrl" / "rewards" / "sandbox.py").write_text("# decoy\n")
    (root / "sentinel").write_text("keep me")
    if score("", [f"import os\nassert os.path.exists({str(root / 'sentinel')!r})"])["reward"] == 1.0:
        return root
    shutil.rmtree(root, ignore_errors=True)  # hidden from the sandbox (e.g. under /tmp): it would prove nothing
    return None


@pytest.fixture
def decoy():
    """A directory shaped like a checkout, owned by the test and removed afterwards: what hostile
    code tries to damage instead of the real repository. It must be visible from inside the sandbox,
    which hides /tmp: beside this file when the checkout is elsewhere, else in another shared place."""
    for parent in (Path(__file__).parent, Path("/opt"), Path("/srv"), Path.home()):
        root = _make_decoy(parent)
        if root is not None:
            break
    else:
        pytest.skip("no directory both this test and the sandbox can see for a decoy")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_correct_solution_scores_fraction_of_tests():
    code = "def add(a, b):\n    return a + b if a else 0"
    assert score(code, ["assert add(1, 2) == 3", "assert add(0, 5) == 5"]) == {"reward": 0.5, "correct": False}
    assert score("def add(a, b): return a + b", ["assert add(0, 5) == 5"])["correct"] is True


def test_printed_pass_lines_are_not_trusted():
    code = "for i in range(3): print(f'\\nPASS {i}')\nimport sys; sys.stdout.write('x PASS 0\\n')"
    assert score(code, ["assert False"])["reward"] == 0.0


def test_infinite_loop_is_killed_at_wall_timeout():
    start = time.monotonic()
    assert score("while True:\n    pass", ["assert True"])["reward"] == 0.0
    assert time.monotonic() - start < 1.5 + 3.0


def test_ten_gigabyte_allocation_fails_fast():
    start = time.monotonic()
    assert score("x = bytearray(10 * 1024**3)\ny = 1", ["assert y == 1"])["reward"] == 0.0
    assert time.monotonic() - start < 3.0


def test_fork_bomb_is_contained_and_cleaned_up():
    if not isolation()["nproc_limit"]:
        pytest.skip("RLIMIT_NPROC is not enforceable here; a fork bomb would not be bounded")
    bomb = ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    limits = Limits(wall_s=1.0, cpu_s=2, memory_mb=128, nproc=8)
    start = time.monotonic()
    result = run_python({"bomb.py": bomb}, "bomb.py", limits=limits)
    assert result.timed_out and time.monotonic() - start < 4.0
    uid = result.enforced["uid"]
    if uid != os.getuid():  # ran as a throwaway uid: nothing of it may survive
        deadline = time.monotonic() + 3.0
        while _uid_processes(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _uid_processes(uid) == []
    assert score(bomb + "ok = 1", ["assert ok == 1"], timeout_s=1.0)["reward"] == 0.0


def test_leaving_the_process_group_does_not_escape_the_timeout():
    start = time.monotonic()
    result = run_python({"escape.py": "import os\nos.setsid()\nwhile True:\n    pass\n"}, "escape.py",
                        limits=Limits(wall_s=1.0, cpu_s=10))
    assert result.timed_out and time.monotonic() - start < 4.0
    uid = result.enforced["uid"]
    if uid != os.getuid():
        assert _uid_processes(uid) == []


def test_writes_outside_its_directory_do_not_land(decoy):
    needs_file_protection()
    token = secrets.token_hex(6)
    targets = [decoy / f"escape-{token}", Path("/tmp") / f"escape-{token}", Path("/var/tmp") / f"escape-{token}"]
    code = "import os\n" + "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError:\n    pass\n" for t in targets)
    result = score(code, [f"assert os.path.exists({str(targets[0])!r})"])
    assert result["reward"] == 0.0
    assert not any(t.exists() for t in targets)


def test_deleting_files_fails(decoy):
    needs_file_protection()
    sentinel = decoy / "sentinel"
    code = (f"import os, shutil\ntry:\n    os.remove({str(sentinel)!r})\nexcept OSError:\n    pass\n"
            f"shutil.rmtree({str(decoy / 'textrl')!r}, ignore_errors=True)\n")
    assert score(code, [f"assert not os.path.exists({str(sentinel)!r})"])["reward"] == 0.0
    assert sentinel.read_text() == "keep me"
    assert (decoy / "textrl" / "rewards" / "sandbox.py").read_text() == "# decoy\n"


def test_a_box_outside_tmp_works_and_stays_contained(decoy, monkeypatch):
    """TMPDIR elsewhere: the working directory must still be reachable and writable by the program
    (as root this once scored every solution 0), and the rest read-only."""
    needs_file_protection()
    monkeypatch.setattr(tempfile, "tempdir", str(decoy))
    code = (f"open('mine', 'w').write('x')\ntry:\n    open({str(decoy / 'escape')!r}, 'w')\nexcept OSError:\n    pass\n"
            "def mine():\n    return open('mine').read()\n")
    assert score(code, ["assert mine() == 'x'"]) == {"reward": 1.0, "correct": True}
    assert not (decoy / "escape").exists() and (decoy / "sentinel").read_text() == "keep me"


NOBODY = 65534

NON_ROOT_PROBE = """
import json, os, sys
sys.path.insert(0, REPO)
from textrl.rewards.sandbox import Limits, isolation, run_python
hostile = '''
import os, shutil
for p in [SENTINEL, SOURCE]:
    try:
        os.remove(p)
    except OSError as e:
        print("refused", e.errno)
shutil.rmtree(TREE, ignore_errors=True)
try:
    open(ESCAPE, "w").write("x")
except OSError as e:
    print("refused", e.errno)
'''
for name in ("SENTINEL", "SOURCE", "TREE", "ESCAPE"):
    hostile = hostile.replace(name, repr(PATHS[name]))
r = run_python({"h.py": hostile}, "h.py", limits=Limits(wall_s=5))
print(json.dumps({"uid": os.getuid(), "isolation": isolation(), "stdout": r.stdout, "stderr": r.stderr}))
"""


def test_files_are_protected_when_textrl_is_not_root(decoy):
    """The non-root path (user + mount namespace, inherited mounts remounted read-only), exercised
    by running the sandbox as uid 65534 against a decoy that uid owns and could otherwise delete."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the sandbox as an unprivileged user")
    try:
        python = sandbox_python()  # executable by strangers (the throwaway uid runs it too)
    except RuntimeError as err:
        pytest.skip(str(err))
    if not all(os.stat(p).st_mode & 0o005 == 0o005 for p in [*REPO.parents, REPO, REPO / "textrl"]):
        pytest.skip("the checkout is not readable by an unprivileged user")
    for p in [decoy, *decoy.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
    paths = {"SENTINEL": str(decoy / "sentinel"), "SOURCE": str(decoy / "textrl" / "rewards" / "sandbox.py"),
             "TREE": str(decoy / "textrl"), "ESCAPE": str(decoy / "escape")}
    probe = NON_ROOT_PROBE.replace("REPO", repr(str(REPO)), 1).replace("PATHS", repr(paths), 1)
    out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python, "-I", "-c", probe],
                         capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["uid"] == NOBODY and not report["isolation"]["unprivileged_uid"]
    if not report["isolation"]["file_protection"]:
        pytest.skip("no user namespace for an unprivileged user here: " + "; ".join(report["isolation"]["not_enforced"]))
    assert report["stdout"].count("refused 30") == 3, report  # EROFS, three times
    assert (decoy / "sentinel").read_text() == "keep me"
    assert (decoy / "textrl" / "rewards" / "sandbox.py").read_text() == "# decoy\n"
    assert not (decoy / "escape").exists()


def test_socket_cannot_reach_the_host():
    if not isolation()["network"]:
        pytest.skip("no network namespace on this machine: " + "; ".join(isolation()["not_enforced"]))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (f"import socket\nconnected = False\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), 1)\n"
            f"    s.sendall(b'leak')\n    connected = True\nexcept OSError:\n    pass\n")
    try:
        assert score(code, ["assert connected"])["reward"] == 0.0
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("TINKER_API_KEY", "fake-key-for-sandbox-test")
    code = "import os\nprint(dict(os.environ))\nleaked = os.environ.get('TINKER_API_KEY')"
    assert score(code, ["assert leaked == 'fake-key-for-sandbox-test'"])["reward"] == 0.0
    result = run_python({"env.py": code}, "env.py", limits=Limits(wall_s=2))
    assert result.returncode == 0 and "TINKER_API_KEY" not in result.stdout


def test_batch_runs_sandboxes_in_parallel_threads():
    completions = ["def f(): return 1", "def f(): return 2", "while True: pass", "def f(): raise ValueError"]
    example = {"id": "p0", "tests": ["assert f() == 1"]}
    from textrl.rewards import get_reward
    scores = score_batch(get_reward("code_execution", **FAST), completions, [example] * 4, max_workers=4)
    assert [s["reward"] for s in scores] == [1.0, 0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- forging the grade

STEAL = r"""
import os, re, sys
found = set()
def scan(v, depth=0):
    if isinstance(v, str):
        found.update(re.findall(r"[0-9a-f]{32}", v))
    elif isinstance(v, (bytes, bytearray)):
        found.update(m.decode() for m in re.findall(rb"[0-9a-f]{32}", bytes(v)))
    elif isinstance(v, (list, tuple, set, frozenset)) and depth < 4:
        for x in v:
            scan(x, depth + 1)
    elif isinstance(v, dict) and depth < 4:
        for x in list(v.values()):
            scan(x, depth + 1)
def walk(f):
    while f is not None:
        scan(dict(f.f_locals))
        f = f.f_back
def attempt(route):
    try:
        for x in route():
            walk(x) if hasattr(x, "f_locals") else scan(x)
    except BaseException:
        pass
def steal():
    walk(sys._getframe())  # generalises the reviewer's sys._getframe(1).f_locals["token"]
    try:
        raise ValueError
    except ValueError as e:
        walk(e.__traceback__.tb_frame)
    attempt(lambda: sys._current_frames().values())
    attempt(lambda: __import__("gc").get_objects())
    attempt(lambda: [open("/proc/self/mem", "rb")])
    attempt(lambda: [__import__("ctypes")])
    for secret in found:
        for i in range(10):
            for line in (f"\n{secret} PASS {i}\n", f"\nPASS {i} {secret}\n"):  # old and new formats
                for fd in range(1, 32):
                    try:
                        os.write(fd, line.encode())
                    except OSError:
                        pass
def f(x):
    steal()
    return x
"""


def test_secrets_are_not_reachable_from_the_solutions_frames():
    """Walking every reachable frame (and gc, other threads, /proc, ctypes) for a secret and writing
    PASS lines with whatever it finds to every descriptor earns nothing: the solution's process holds
    no secret and no verdict, and the only descriptor that reaches the grader is its own reply
    channel, which the junk garbles (an in-process harness that kept its token in main()'s locals
    once scored this 10/3)."""
    tests = ["assert f(1) == 1", "assert f(2) == 3", "assert f(3) == 4"]
    assert score(STEAL, tests, timeout_s=10) == {"reward": 0.0, "correct": False}
    assert score(STEAL.replace("steal()\n", ""), tests, timeout_s=10) == {"reward": 1 / 3, "correct": False}


INTERCEPT = r"""
import fcntl, os, re, stat
taps = []
def arm():
    for fd in range(3, 40):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            saved, (r, w) = os.dup(fd), os.pipe()
            os.set_blocking(r, False)
            os.dup2(w, fd)
            taps.append((saved, r))
            return
def replay():
    for saved, r in taps:
        try:
            seen = os.read(r, 65536).decode()
        except OSError:
            seen = ""
        for nonce in re.findall(r"[0-9a-f]{32}", seen):
            for j in range(10):
                os.write(saved, f"\nPASS {j} {nonce}\n".encode())
def f(x):
    replay() if taps else arm()
    return x
"""


def test_intercepting_the_result_channel_reveals_only_earned_passes():
    """A solution that redirects the harness's result descriptor sees the nonces of the tests it
    passed, and replaying them under other indices earns nothing."""
    tests = ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 0", "assert f(4) == 0"]
    assert score(INTERCEPT, tests, timeout_s=10)["reward"] == 0.5


def test_replacing_builtins_the_harness_uses_does_not_pass_tests():
    no_op = "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: None\n"
    assert score(no_op, ["assert False", "assert 1 == 2"])["reward"] == 0.0
    everything = no_op + "builtins.BaseException = KeyError\nimport os\nos.write = lambda *a: 0\n"
    assert score(everything, ["assert False", "assert 1 == 2"])["reward"] == 0.0
    assert score(everything + "ok = 1", ["assert ok == 1"])["reward"] == 1.0


def test_pass_lines_beyond_the_tests_never_count(monkeypatch):
    """Whatever the grader's box printed, only indices of real tests count, each once: reward <= 1."""
    def forged(*args, **kwargs):
        lines = [f"pass {i}" for i in range(10)] + ["pass 0"] * 3 + [f"pass {'9' * 5000}", "pass -1"]
        return SandboxResult(0, "\n".join(lines) + "\n", "", False, 0.0, {})

    monkeypatch.setattr(code_exec, "run_connected", forged)
    assert code_exec.run_tests("", ["assert f()", "assert g()"]) == 2
    assert code_exec.run_tests("", ["assert f()", "assert g()", "assert h()"]) == 3
    assert score("", ["assert f()", "assert g()"]) == {"reward": 1.0, "correct": True}


def test_a_chatty_correct_solution_still_scores():
    """Far more output than is read back (64 KB), before and during the tests, costs nothing."""
    code = ("import sys\nprint('x' * 300_000)\nsys.stderr.write('e' * 300_000)\n"
            "def add(a, b):\n    print('adding', a, b, 'y' * 100_000)\n    return a + b\n")
    assert score(code, ["assert add(1, 2) == 3", "assert add(2, 2) == 4"], timeout_s=5) == {"reward": 1.0, "correct": True}


def test_common_standard_library_works_inside_the_harness():
    code = textwrap.dedent("""
        import collections, dataclasses, enum, functools, heapq, logging, threading, typing
        T = typing.TypeVar("T")
        Color = enum.Enum("Color", "RED GREEN")
        Pair = collections.namedtuple("Pair", "a b")

        @dataclasses.dataclass(frozen=True)
        class Box:
            items: tuple

        @functools.lru_cache(maxsize=None)
        def fib(n: int) -> int:
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def solve(xs):
            logging.getLogger("solution").warning("solving %s", xs)
            out = []
            t = threading.Thread(target=lambda: out.append(sorted(heapq.nsmallest(2, xs))))
            t.start()
            t.join()
            return Box(tuple(out[0])), Pair(*out[0]), fib(20), Color.RED.name
        """)
    tests = ["assert solve([5, 1, 3])[0] == Box((1, 3))", "assert solve([2, 9])[1].b == 9",
             "assert solve([1, 2])[2:] == (6765, 'RED')"]
    assert score(code, tests, timeout_s=10) == {"reward": 1.0, "correct": True}


def test_the_kernel_refuses_new_processes_unix_sockets_and_namespaces():
    """Not a blocklist of Python modules: a seccomp filter under the whole program, so ctypes and raw
    syscalls meet the same refusal as os.fork. Threads stay allowed."""
    if not isolation()["no_processes"]:
        pytest.skip("no seccomp filter here: " + "; ".join(isolation()["not_enforced"]))
    code = textwrap.dedent("""
        import ctypes, os, socket, subprocess, threading
        libc = ctypes.CDLL(None, use_errno=True)
        refused, allowed = [], []
        def check(name, route):
            try:
                ok = route()
            except OSError:
                ok = False
            (allowed if ok else refused).append(name)
        check("fork", lambda: os.fork() is None)
        check("subprocess", lambda: subprocess.run(["true"]) is None)
        check("ctypes fork", lambda: libc.fork() >= 0)
        check("raw clone", lambda: libc.syscall(56 if os.uname().machine == "x86_64" else 220, 17, 0, 0, 0, 0) >= 0)
        check("unix socket", lambda: socket.socket(socket.AF_UNIX) is None)
        check("socketpair", lambda: socket.socketpair() is None)
        check("unshare", lambda: libc.unshare(0x10000000) == 0)
        check("mount", lambda: libc.mount(b"none", b"/mnt", b"tmpfs", 0, None) == 0)
        t = threading.Thread(target=lambda: allowed.append("thread"))
        t.start()
        t.join()
        """)
    refused = ["fork", "subprocess", "ctypes fork", "raw clone", "unix socket", "socketpair", "unshare", "mount"]
    tests = [f"assert refused == {refused!r}, refused", "assert allowed == ['thread'], allowed"]
    assert score(code, tests, timeout_s=5) == {"reward": 1.0, "correct": True}


def test_host_unix_sockets_are_unreachable(decoy):
    """A world-writable Unix socket in a directory the sandbox can see (read-only mounts do not stop
    connect()): nothing connects."""
    path = decoy / "host.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen(1)
    server.setblocking(False)
    code = (f"import socket\nconnected = False\ntry:\n    s = socket.socket(socket.AF_UNIX)\n"
            f"    s.connect({str(path)!r})\n    s.sendall(b'leak')\n    connected = True\nexcept OSError:\n    pass\n")
    try:
        assert score(code, ["assert connected"])["reward"] == 0.0
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_the_working_directory_is_size_capped():
    if not isolation()["workdir_capped"]:
        pytest.skip("no private tmpfs for the working directory here: " + "; ".join(isolation()["not_enforced"]))
    code = textwrap.dedent("""
        written = 0
        try:
            for k in range(64):
                with open(f"f{k}", "wb") as f:
                    f.write(b"x" * (1 << 20))
                written += 1
        except OSError:
            pass
        """)
    result = run_python({"fill.py": code + "print(written)"}, "fill.py", limits=Limits(wall_s=10, workdir_mb=8))
    assert result.returncode == 0 and int(result.stdout) < 8, result


def test_correct_solutions_score_in_full_under_load():
    """Many correct multi-test solutions graded at once (more sandboxes than cores, a round trip per
    test, half of them with a tiny switch interval): each scores 1.0."""
    from concurrent.futures import ThreadPoolExecutor
    plain = "def double(x):\n    return 2 * x\n"
    eager = "import sys\nsys.setswitchinterval(1e-6)\n" + plain
    tests = [f"assert double({k}) == {2 * k}" for k in range(300)]

    def grade(code):
        return score(code, tests, timeout_s=10)["reward"]

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        rewards = list(pool.map(grade, [plain, eager] * 8))
    assert rewards == [1.0] * 16
    assert time.monotonic() - start < 30


def test_a_solution_that_raises_while_loading_scores_zero():
    """Like one that does not compile: the tests never see a half-loaded solution, whatever it raises."""
    tests = ["assert f(1) == 2", "assert f(2) == 4"]
    assert score("def f(x): return 2*x", tests) == {"reward": 1.0, "correct": True}
    for tail in ["raise SystemExit(1)", "raise SystemExit(0)", "raise KeyboardInterrupt", "raise ValueError",
                 "class Stop(BaseException): pass\nraise Stop", "import sys; sys.exit()", "1/0"]:
        assert score(f"def f(x): return 2*x\n{tail}", tests) == {"reward": 0.0, "correct": False}, tail
    # a load that fails after the solution caught its own errors is still a load that failed
    code = "def f(x): return 2*x\ntry:\n    raise ValueError\nexcept ValueError:\n    pass\nraise SystemExit(1)"
    assert score(code, tests)["reward"] == 0.0
    assert score("def f(x): return 2*x\ndef broken(:", tests)["reward"] == 0.0  # does not compile: the same
