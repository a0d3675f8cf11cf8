"""code_execution's grading across two boxes (textrl/rewards/code_box.py): what a test can do with a
solution, and why a solution that does not solve the task cannot score."""
import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from textrl.rewards import code_execution

BOX = Path(__file__).resolve().parents[2] / "textrl" / "rewards" / "code_box.py"


def score(code: str, tests: list[str], **kw) -> dict:
    return code_execution("", f"```python\n{code}\n```", {"tests": tests}, **{"timeout_s": 5, "memory_mb": 256, **kw})


def test_values_cross_as_plain_data_of_their_exact_types():
    code = textwrap.dedent("""
        def values():
            return [None, True, 3, 2.5, float("nan"), "s", b"\\x00b", 1 + 2j, (1, [2]), {1, 2}, frozenset({3}),
                    {"k": (1,)}, 10 ** 40]
        def pair():
            return (1, 2)
        """)
    tests = ["v = values(); assert v[0] is None and v[1] is True and type(v[2]) is int and v[3] == 2.5",
             "v = values(); assert v[4] != v[4] and v[5] == 's' and v[6] == b'\\x00b' and v[7] == 1 + 2j",
             "v = values(); assert v[8] == (1, [2]) and v[9] == {1, 2} and v[10] == frozenset({3})",
             "v = values(); assert v[11] == {'k': (1,)} and v[12] == 10 ** 40",
             "assert pair() == (1, 2) and pair() != [1, 2]"]
    assert score(code, tests) == {"reward": 1.0, "correct": True}


def test_solution_defined_equality_types_and_builtins_decide_nothing():
    code = textwrap.dedent("""
        import builtins
        class Yes:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        class Five(int):
            def __eq__(self, other): return True
        def f(x): return Yes()
        def g(x): return Five(7)
        isinstance = lambda *a: True
        type = lambda *a: int
        builtins.isinstance = isinstance
        builtins.AssertionError = KeyError
        """)
    tests = ["assert f(1) == 2", "assert g(1) == 5", "assert isinstance(g(1), int) and type(g(1)) is int",
             "assert f(1) == [1, 2, 3]"]
    assert score(code, tests) == {"reward": 0.0, "correct": False}
    assert score("def g(x): return 5", ["assert g(1) == 5", "assert type(g(1)) is int"])["reward"] == 1.0


def test_the_tests_are_nowhere_on_the_solutions_file_system():
    marker = "expected-" + secrets.token_hex(8)
    code = textwrap.dedent("""
        import os, re
        def look():
            pattern = re.compile(rb"expected-[0-9a-f]{16}")
            for top in (".", "/tmp", "/var/tmp", "/dev/shm", "/run"):
                for root, _, files in os.walk(top):
                    for name in files:
                        try:
                            with open(os.path.join(root, name), "rb") as f:
                                found = pattern.search(f.read(1 << 20))
                        except OSError:
                            continue
                        if found:
                            return found.group().decode()
            return None
        """)
    assert score(code, [f"assert look() == {marker!r}"]) == {"reward": 0.0, "correct": False}


def test_objects_stay_in_the_solutions_box_and_answer_by_request():
    code = textwrap.dedent("""
        import dataclasses, enum
        @dataclasses.dataclass
        class Point:
            x: int
            y: int
        class Color(enum.Enum):
            RED = 1
        class Stack:
            def __init__(self):
                self.items = []
            def push(self, x):
                self.items.append(x)
            def pop(self):
                return self.items.pop()
            def __len__(self):
                return len(self.items)
            def __contains__(self, x):
                return x in self.items
        def count(n):
            yield from range(n)
        LIMIT = 3
        """)
    tests = ["s = Stack(); s.push(1); s.push(2); assert len(s) == 2 and 1 in s and s.pop() == 2 and s.items == [1]",
             "assert list(count(LIMIT)) == [0, 1, 2] and sum(x * x for x in count(4)) == 14",
             "assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1) and Point(1, 2).y == 2",
             "assert Color.RED == Color.RED and Color.RED.value == 1",
             "try:\n    Stack().pop()\nexcept IndexError:\n    pass\nelse:\n    raise AssertionError",
             "p = Point(1, 2); p.x = 5; assert p.x == 5"]
    assert score(code, tests) == {"reward": 1.0, "correct": True}


def test_exceptions_keep_built_in_types_and_end_only_their_call():
    code = textwrap.dedent("""
        class Mine(Exception):
            pass
        def f(x):
            if x < 0:
                raise ValueError("negative")
            if x == 0:
                raise Mine("zero")
            if x == 1:
                raise SystemExit(0)
            return x
        """)
    tests = ["try:\n    f(-1)\nexcept ValueError as e:\n    assert 'negative' in str(e)\nelse:\n    raise AssertionError",
             "try:\n    f(0)\nexcept Exception as e:\n    assert 'Mine' in str(e)\nelse:\n    raise AssertionError",
             "try:\n    f(1)\nexcept Exception:\n    pass",
             "assert f(2) == 2"]
    assert score(code, tests) == {"reward": 1.0, "correct": True}


def test_a_test_cannot_hand_its_own_code_to_the_solution():
    """Only plain data (or the solution's own objects) crosses: a lambda argument fails the test."""
    assert score("def apply(fn, x): return fn(x)", ["assert apply(lambda v: v + 1, 1) == 2"])["reward"] == 0.0


def test_input_and_printing_do_not_disturb_the_channel():
    code = "print('pass 0')\ndef f(x):\n    print('noise', x)\n    try:\n        input()\n    except EOFError:\n        pass\n    return x"
    assert score(code, ["assert f(3) == 3", "assert False"]) == {"reward": 0.5, "correct": False}


def grade_unsandboxed(peer: list[str], peer_dir: Path, grader_dir: Path) -> str:
    """The grader's verdict lines, with the grader and its peer as plain processes joined by two pipes."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    serve = subprocess.Popen(peer, cwd=peer_dir, stdin=to_r, stdout=from_w)
    grade = subprocess.Popen([sys.executable, "-I", "code_box.py", "grade", str(to_w), str(from_r)], cwd=grader_dir,
                             stdout=subprocess.PIPE, pass_fds=(to_w, from_r), text=True)
    for fd in (to_r, to_w, from_r, from_w):
        os.close(fd)
    try:
        return grade.communicate(timeout=60)[0]
    finally:
        serve.kill()
        serve.wait()


SEARCH_OWN_MEMORY = textwrap.dedent("""
    import re
    def f(x):
        pattern, found = re.compile(rb"expected-[0-9a-f]{16}"), None
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if "r" not in perms or "[v" in line:
                    continue
                start, end = (int(v, 16) for v in span.split("-"))
                try:
                    mem.seek(start)
                    found = pattern.search(mem.read(end - start)) or found
                except (OSError, ValueError, OverflowError):
                    continue
        return found.group().decode() if found else None
    """)


def test_the_solutions_process_holds_no_expected_value_even_unsandboxed(tmp_path):
    """The two halves run as plain processes, /proc visible, to show that the design, not the
    sandbox, is what keeps the tests away: the solution reads its whole memory for the expected value
    and finds nothing."""
    marker = "expected-" + secrets.token_hex(8)
    solution, grader = tmp_path / "solution", tmp_path / "grader"
    for d in (solution, grader):
        d.mkdir()
        (d / "code_box.py").write_text(BOX.read_text())
    (solution / "solution.py").write_text(SEARCH_OWN_MEMORY)
    (grader / "tests.json").write_text(json.dumps([f"assert f(1) == {marker!r}", "assert f(1) is None"]))
    out = grade_unsandboxed([sys.executable, "-I", "code_box.py", "serve"], solution, grader)
    assert out.split("\n")[:2] == ["fail 0", "pass 1"]


@pytest.mark.parametrize("reply", [b"not json\n", b'{"ok": {"t": "nope", "v": 1}}\n', b"[" * 100_000 + b"\n"])
def test_malformed_replies_fail_the_test_without_breaking_the_grader(tmp_path, reply):
    """A peer that answers with junk (what a solution writing on its own channel sends): that test
    fails, the grader goes on with the next."""
    (tmp_path / "code_box.py").write_text(BOX.read_text())
    (tmp_path / "tests.json").write_text('["assert f() == 1", "assert g() == 2"]')
    peer = "import sys\nsys.stdout.buffer.write(b'{\"loaded\": true, \"names\": {\"f\": {\"t\": \"ref\", \"v\": 1}, \"g\": {\"t\": \"ref\", \"v\": 2}}}\\n')\nsys.stdout.flush()\nsys.stdin.buffer.readline()\nsys.stdout.buffer.write(%r)\nsys.stdout.flush()\nsys.stdin.buffer.readline()\nsys.stdout.buffer.write(b'{\"ok\": 2}\\n')\nsys.stdout.flush()\nsys.stdin.buffer.readline()\n" % reply
    out = grade_unsandboxed([sys.executable, "-c", peer], tmp_path, tmp_path)
    assert out.split("\n")[:2] == ["fail 0", "pass 1"]
