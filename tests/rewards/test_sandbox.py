"""Hostile completions against code_execution: each ends within its limits with reward 0 and leaves
the machine and the repository untouched. Limits are short so the whole file runs in seconds."""
import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from textrl.rewards import code_execution, score_batch
from textrl.rewards.sandbox import Limits, _uid_processes, isolation, run_python

REPO = Path(__file__).resolve().parents[2]
FAST = {"timeout_s": 1.5, "memory_mb": 256}


def score(code: str, tests: list[str], **kw) -> dict:
    return code_execution("", f"```python\n{code}\n```", {"tests": tests}, **{**FAST, **kw})


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


def test_writes_outside_its_directory_do_not_land():
    token = secrets.token_hex(6)
    targets = [REPO / f"escape-{token}", Path("/tmp") / f"escape-{token}", Path("/var/tmp") / f"escape-{token}"]
    code = "import os\n" + "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError:\n    pass\n" for t in targets)
    result = score(code, [f"assert os.path.exists({str(targets[0])!r})"])
    assert result["reward"] == 0.0
    assert not any(t.exists() for t in targets)


def test_deleting_files_fails(tmp_path):
    token = secrets.token_hex(6)
    sentinel = REPO / "tests" / "rewards" / f".sentinel-{token}"
    sentinel.write_text("keep me")
    try:
        code = (f"import os, shutil\ntry:\n    os.remove({str(sentinel)!r})\nexcept OSError:\n    pass\n"
                f"shutil.rmtree({str(REPO / 'textrl')!r}, ignore_errors=True)\n")
        assert score(code, [f"assert not os.path.exists({str(sentinel)!r})"])["reward"] == 0.0
        assert sentinel.read_text() == "keep me"
        assert (REPO / "textrl" / "rewards" / "sandbox.py").exists()
    finally:
        sentinel.unlink()


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
