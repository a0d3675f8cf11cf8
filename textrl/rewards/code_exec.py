"""code_execution: run a completion's Python against unit tests in the sandbox; reward = fraction passed.

Tests are assert-style snippets run one by one, in the solution's namespace, after the solution is
loaded. The solution runs in the same interpreter as the harness that grades it, so the harness is
built so that the known ways for the solution to claim passes it did not earn fail:

- Results reach the parent as "PASS <i> <nonce_i>" lines, with one random nonce per test made by the
  parent; a line counts only with its own test's nonce, and only indices 0..len(tests)-1 count, each
  once, so the reward is always in [0, 1] and printing PASS lines earns nothing.
- The nonces are never in a frame the solution can walk to. The solution's code (at load, and when
  the tests call it) runs in the main thread; the nonces are read (and their file deleted) by a
  separate reporter thread that never calls solution code, so sys._getframe(...).f_back chains,
  tracebacks and generator frames reach only harness frames that hold no secret.
- The reporter does not take the main thread's word that a test passed. Woken after each test, it
  looks at the main thread's harness frame itself and reveals nonce_i only when that frame stands in
  the passed span: the instructions from the "test done" signal to the wait for the ack in the
  branch reached when exec(test_i) returned normally (read off the loop's bytecode; one passing and
  one failing dummy test before the solution loads check that f_lasti lands where it says). The
  frame stays in that span from the signal until the reporter acks, however the two threads switch
  (just after the signal, or in the wait), so a real pass is always recognised. A forged wake-up
  (solution code runs only inside exec) finds the frame outside every span and is ignored, and the
  main thread is not waiting for an ack then; so even a solution that intercepts the reporter's
  output learns only the nonces of tests it really passed.
- The solution must load completely. It runs once, before and outside the test loop, and if its
  top-level code raises anything (SystemExit, KeyboardInterrupt and other BaseExceptions included)
  the harness exits before any test runs, as when it does not compile: the reward is 0.
- The solution's stdout and stderr go to /dev/null and the results to a separate descriptor, so a
  chatty solution loses nothing. The harness loop calls exec, and iterates over the tests, through
  constants of its code object, and everything else the harness uses after the solution loads is
  bound before: replacing builtins.exec / compile / BaseException or os.write changes nothing, and
  neither does rebinding the loop's locals where frame.f_locals writes through (Python >= 3.13).
- An audit hook (which Python code cannot remove) is installed before the solution loads. It
  refuses: other threads' frames and exceptions (sys._current_frames / _current_exceptions), the
  garbage collector's object lists (gc.get_objects / get_referrers / get_referents), tracing and
  profiling (sys.settrace / setprofile: they could also rewrite the harness's locals or jump its
  lines), new audit hooks, importing ctypes, _posixsubprocess / subprocess, subinterpreters and the
  _test* modules (raw memory access, unaudited process creation), every other way to start a process
  (fork, exec, spawn, system: a child could ptrace the harness), building code objects (code.__new__
  / code.replace) and unmarshalling (marshal.loads; .pyc caches are turned off so imports do not need
  it), since hand-made bytecode can read arbitrary memory, and opening or symlinking anything under
  /proc. In the reporter's own thread it also refuses every frame access (sys._getframe, tb_frame,
  gi_frame, ...), so a finalizer that the garbage collector happens to run there cannot reach the
  reporter's locals. The sandbox also hides /proc behind an empty tmpfs where it has a mount
  namespace (isolation()["proc_hidden"]).

Residual risk, stated precisely: this is defence in depth inside one interpreter, not a proof.
- A solution that reads the reporter thread's memory by a route that raises no audit event (a
  memory-safety bug in CPython or in a C extension it can import, or an unaudited primitive this list
  misses) can forge passes.
- Where the sandbox could not hide /proc (no mount namespace), the /proc rule is a path check (any
  "proc" component, or os.path.realpath landing in /proc) that a solution can mislead by
  monkeypatching os.path's internals before opening /proc/self/mem.
- On a free-threaded (no-GIL) Python >= 3.13 a racing thread could rebind the loop's `code` local
  between its assignment and the exec call.
- On Python >= 3.13, where frame.f_locals writes through, a signal handler that rewrites the loop's
  test index while one genuine pass is being acknowledged might obtain another index's nonce (not
  tested; the CI and development machines run 3.11).
- Assert-style tests are only as strong as their comparisons: a solution returning an object whose
  __eq__ is always true, or patching the builtins the tests use, passes `assert f(x) == y` as far as
  any harness can tell. Prefer tests that check types (`type(f(x)) is int and f(x) == y`) where it
  matters, and read the generations when code rewards look too good.
A correct solution that needs subprocesses, ctypes, tracing or gc introspection scores 0 here.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import secrets
import warnings
from typing import Any

from textrl.errors import ConfigError
from textrl.rewards.builtin import example_value
from textrl.rewards.registry import reward
from textrl.rewards.sandbox import Limits, isolation, run_python

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_RESULT = re.compile(r"^PASS (\d{1,9}) ([0-9a-f]{32})$", re.MULTILINE)  # bounded: int() of 5000 digits raises

HARNESS = r"""
import _thread, builtins, dis, json, os, sys, types, warnings

NONCES = "nonces.json"


def reporter(frame, spans, req_acquire, ack_release, out, ready, end_run, write=os.write,
             type=type, int=int, len=len, set=set, BaseException=BaseException):
    # Never calls solution code: every name it uses after the solution may have started is bound
    # here, before. Its locals (the nonces) are reachable only through frames of this thread,
    # which the audit hook refuses to hand out here.
    lines = ()
    try:
        with open(NONCES, "rb") as f:
            nonces = json.loads(f.read())
        os.unlink(NONCES)
        lines = tuple(("\nPASS %d %s\n" % (i, n)).encode() for i, n in enumerate(nonces))
        del nonces
        ready.append(_thread.get_ident())
    finally:
        ack_release()
    if not lines:
        return
    calibration_passed, calibration_failed, passed, failed = spans
    # Each span (see spans()) holds every instruction offset of the loop from one "test done"
    # signal up to the wait for its ack. From the moment the main thread signals until this thread
    # acks, its frame stands inside that signal's span, wherever the two threads switch (the
    # switch may fall just after the signal, or in the wait), so a real signal is always
    # recognised. A forged one (solution code, running inside exec) finds the frame outside every
    # span and is ignored, and the main thread is not waiting for an ack then. The calibration
    # tests (steps 0 and 1: a pass, then a failure, before the solution loads) check that f_lasti
    # means what the spans assume on this Python; if not, nothing is trusted.
    step = 0
    revealed = set()
    while True:
        req_acquire()
        try:
            i = frame.f_locals["i"]
        except BaseException:
            i = None
        at = frame.f_lasti
        if step < 2:
            if at not in (calibration_passed if step == 0 else calibration_failed):
                end_run(4)
            step += 1
        elif at in passed:
            try:
                # i read before and after f_lasti: every iteration has its own i, so the main
                # thread was in test i's iteration when it stood in the passed span
                if type(i) is int and 0 <= i < len(lines) and i not in revealed and frame.f_locals["i"] is i:
                    revealed.add(i)
                    write(out, lines[i])
            except BaseException:
                pass
        elif at not in failed:
            continue  # not woken by the harness after a test: ignore, and do not let it go on
        try:
            ack_release()
        except BaseException:
            pass


def spans(code):
    # per branch of each loop of LOOP, the offsets f_lasti can show from the "test done" signal
    # (the load of "@REQ-...@") to the wait for the ack (the call of "@ACK-...@", inline caches
    # included); every branch is one of its own, and none overlaps another
    ins = [x for x in dis.get_instructions(code) if x.opname != "CACHE"]

    def where(marker):
        found = [k for k, x in enumerate(ins) if x.opname == "LOAD_CONST" and x.argval == marker]
        if len(found) != 1:
            raise RuntimeError("harness loop: %r loaded %d times" % (marker, len(found)))
        return found[0]

    out = []
    for branch in ("CAL-PASSED", "CAL-FAILED", "PASSED", "FAILED"):
        start, ack = where("@REQ-%s@" % branch), where("@ACK-%s@" % branch)
        call = next((k for k in range(ack + 1, len(ins)) if ins[k].opname == "CALL"), len(ins))
        if not start < ack < call < len(ins) - 1:
            raise RuntimeError("harness loop: unexpected layout")
        out.append(frozenset(range(ins[start].offset, ins[call + 1].offset)))
    if len(frozenset().union(*out)) != sum(len(span) for span in out):
        raise RuntimeError("harness loop: the spans overlap")
    return out


def make_hook(reporter_ident, get_ident, realpath, isinstance=isinstance, str=str, bytes=bytes,
              str_add=str.__add__, bytes_add=bytes.__add__, RuntimeError=RuntimeError,
              PermissionError=PermissionError, ImportError=ImportError):
    always = frozenset({
        "sys._current_frames", "sys._current_exceptions", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "sys.settrace", "sys.setprofile", "sys._settraceallthreads",
        "sys._setprofileallthreads", "sys.addaudithook", "code.__new__", "marshal.loads", "marshal.load",
        "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen",
        "sys.remote_exec"})
    in_reporter = frozenset({"sys._getframe", "sys._getframemodulename", "object.__getattr__"})
    modules = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "subprocess", "_xxsubinterpreters",
                         "_xxinterpchannels", "_xxinterpqueues", "_interpreters", "_interpchannels",
                         "_interpqueues", "concurrent.interpreters", "_remote_debugging"})

    def exact(value):
        # a plain str / bytes copy, even of a subclass that overrides __eq__, __hash__, __radd__ or
        # its string methods to lie to this hook
        return str_add("", value) if isinstance(value, str) else bytes_add(b"", value).decode("utf-8", "replace")

    def names_proc(path):
        if "proc" in path.split("/"):
            return True
        real = exact(realpath(path))
        return real == "/proc" or real[:6] == "/proc/"

    def hook(event, args):
        if event in always or event[:7] == "ctypes.":
            raise RuntimeError(event + " is not allowed in the code_execution sandbox")
        if event == "import":
            name = exact(args[0]) if isinstance(args[0], str) else ""
            if name in modules or name.partition(".")[0] in modules or name[:5] == "_test":
                raise ImportError("module " + name + " is not allowed in the code_execution sandbox")
        elif event == "open" or event == "os.symlink":
            # a fallback: the sandbox hides /proc behind an empty tmpfs where it can
            path = args[0]
            if isinstance(path, (str, bytes)) and names_proc(exact(path)):
                raise PermissionError("/proc is not readable in the code_execution sandbox")
        if event in in_reporter and get_ident() == reporter_ident:
            raise RuntimeError(event + " is not allowed in the reporter thread")

    return hook


# The loop that runs the solution's code. Everything it calls and the tests it runs are constants
# of its code object (placeholders replaced below), not locals or globals: on Python >= 3.13,
# frame.f_locals writes through (PEP 667), and a solution could otherwise rebind `exec` in this
# frame. Its only locals are i and code, assigned from the constant tuple at each iteration.
LOOP = '''
def loop():
    "@START@"("@GETFRAME@"())
    for i, code in ("@CALIBRATION@",):
        try:
            "@EXEC@"(code, "@SCOPE@")
        except ("@BASE@",):
            "@REQ-CAL-FAILED@"()
            "@ACK-CAL-FAILED@"()
        else:
            "@REQ-CAL-PASSED@"()
            "@ACK-CAL-PASSED@"()
    try:
        "@EXEC@"("@SOLUTION@", "@SCOPE@")
    except ("@BASE@",):
        "@EXIT@"(2)  # it must load completely: no test runs against a half-loaded solution
    for i, code in ("@TESTS@",):
        try:
            "@EXEC@"(code, "@SCOPE@")
        except ("@BASE@",):
            "@REQ-FAILED@"()
            "@ACK-FAILED@"()  # the failed-test span: from the load of "@REQ-FAILED@" to this call
        else:
            "@REQ-PASSED@"()
            "@ACK-PASSED@"()  # the passed-test span
    "@EXIT@"(0)
'''


def run(calibration, solution, tests, scope):
    req, ack, ready = _thread.allocate_lock(), _thread.allocate_lock(), []
    req.acquire()
    ack.acquire()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": it will not be a str
        namespace = {}
        exec(compile(LOOP, "harness-loop", "exec"), namespace)
    code = namespace["loop"].__code__
    positions = spans(code)

    def start(frame):
        out = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        _thread.start_new_thread(reporter, (frame, positions, req.acquire, ack.release, out, ready,
                                            os._exit))
        ack.acquire()  # the reporter has read and deleted the nonces
        if not ready:
            os._exit(3)
        sys.dont_write_bytecode = True
        sys.pycache_prefix = os.path.join(os.getcwd(), ".no-pycache")  # imports compile from source
        sys.addaudithook(make_hook(ready.pop(), _thread.get_ident, os.path.realpath))

    constants = {"@START@": start, "@GETFRAME@": sys._getframe, ("@CALIBRATION@",): calibration,
                 "@SOLUTION@": solution, ("@TESTS@",): tests, "@EXEC@": exec, "@SCOPE@": scope,
                 ("@BASE@",): (BaseException,), "@EXIT@": os._exit}
    for branch in ("CAL-PASSED", "CAL-FAILED", "PASSED", "FAILED"):
        constants["@REQ-%s@" % branch], constants["@ACK-%s@" % branch] = req.release, ack.acquire
    code = code.replace(co_consts=tuple(constants.get(c, c) if type(c) in (str, tuple) else c
                                        for c in code.co_consts))
    types.FunctionType(code, {})()


def main():
    with open("tests.json") as f:
        tests = json.load(f)
    with open("solution.py") as f:
        source = f.read()
    try:
        solution = compile(source, "solution.py", "exec")
    except BaseException:
        os._exit(2)
    codes = []
    for i, test in enumerate(tests):
        try:
            codes.append((i, compile(test, "test_%d" % i, "exec")))
        except BaseException:
            pass  # a test that does not compile never passes
    calibration = ((-2, compile("pass", "calibration", "exec")),
                   (-1, compile("raise AssertionError", "calibration", "exec")))
    run(calibration, solution, tuple(codes), {"__name__": "solution", "__builtins__": builtins})


main()
"""


def extract_code(completion: str) -> str:
    """The last ```python (or untagged) fenced block, else the whole completion."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(completion)]
    for lang, body in reversed(blocks):
        if lang in ("python", "py", "python3", ""):
            return body
    return completion


def run_tests(code: str, tests: list[str], limits: Limits = Limits()) -> int:
    """Number of tests passed; a test that did not report before a timeout or crash has failed.
    Only a line with test i's own nonce counts, and only for i in range(len(tests))."""
    nonces = [secrets.token_hex(16) for _ in tests]
    # stdout carries only the harness's result lines (about 45 bytes per test): room for all of them
    limits = dataclasses.replace(limits, output_bytes=max(limits.output_bytes, 64 * len(tests) + 4096))
    result = run_python({"solution.py": code, "tests.json": json.dumps(tests), "harness.py": HARNESS,
                         "nonces.json": json.dumps(nonces)}, "harness.py", limits=limits)
    passed = {int(i) for i, nonce in _RESULT.findall(result.stdout)
              if int(i) < len(tests) and secrets.compare_digest(nonce, nonces[int(i)])}
    return len(passed)


@functools.lru_cache(maxsize=1)
def _warn_if_partly_isolated() -> None:
    missing = isolation()["not_enforced"]
    if missing:
        warnings.warn("code_execution sandbox does not enforce: " + "; ".join(missing), stacklevel=3)


@reward(parallel="thread")
def code_execution(prompt: str, completion: str, example: Any = None, *, tests: Any = None,
                   expected_output: str | None = None, timeout_s: float = 5.0, memory_mb: int = 512,
                   **_) -> dict:
    """Fraction of unit tests passed (a list of assert snippets from `tests=` or the example's
    tests/answer); or, with expected_output=, 1.0 when the program's stdout equals it."""
    limits = Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s + 0.999)), memory_mb=memory_mb)
    code = extract_code(completion)
    if expected_output is not None:
        _warn_if_partly_isolated()
        result = run_python({"solution.py": code}, "solution.py", limits=limits)
        ok = not result.timed_out and result.stdout.strip() == str(expected_output).strip()
        return {"reward": float(ok), "correct": ok}
    tests = next((t for t in (tests, example_value(example, "tests"), example_value(example, "answer"))
                  if t is not None), None)
    if isinstance(tests, str):
        tests = [tests]
    if not tests or not all(isinstance(t, str) for t in tests):
        raise ConfigError(f"code_execution: expected tests as a non-empty list of Python snippets "
                          f"(tests=... or the example's 'tests'), got {tests!r}")
    _warn_if_partly_isolated()
    passed = run_tests(code, list(tests), limits)
    return {"reward": passed / len(tests), "correct": passed == len(tests)}
