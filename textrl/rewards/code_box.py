"""Both ends of code_execution's grading, each run in a sandbox of its own (`textrl.rewards.sandbox`).
Standard library only: textrl copies this file into both boxes and runs it there.

    python -I code_box.py serve            the solution's box: loads solution.py, answers requests
    python -I code_box.py grade OUT IN     the grader's box: runs every test of tests.json against
                                           the solution, prints "pass i" or "fail i" per test

The solution's box holds no test, no expected value and no verdict: there is nothing in it to read,
steal or forge. The two boxes share nothing but a pair of pipes carrying JSON lines of plain data
(None, bool, int, float, str, bytes, complex, and list, tuple, set, frozenset, dict of them, all of
exactly those types). Any other object stays in the solution's box and crosses as a reference that
the grader can call, index, iterate, ask for an attribute or a length, each a round trip. Every
comparison a test makes runs in the grader with the grader's own builtins, so a solution-defined
`__eq__`, `isinstance` or `type` changes nothing but its own box.

Where a test compares two objects the solution made (`f(x) == Point(1, 2)` with `Point` the
solution's class) the grader compares their data (dataclass fields, namedtuple items, enum names),
which the solution reports about itself: such a test is only as strong as that report. Tests that
compare with plain values cannot be fooled this way.
"""
import builtins
import json
import os
import sys

MAX_LINE = 16 << 20  # one message at most: bounds what a solution can make the grader hold
MAX_DEPTH = 64
MAX_TEXT = 500  # characters of an exception message carried across


# ---------------------------------------------------------------------------------------- wire format

class WireError(TypeError):
    """A value that cannot cross: not plain data, too deep, or malformed."""


PLAIN_SCALARS = (type(None), bool, int, float, str)
TAGGED = {tuple: "tuple", set: "set", frozenset: "frozenset"}


def encode(value, as_ref, depth=0):
    """JSON-ready form of value; objects that are not plain data become as_ref(value)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply to cross")
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return value
    if kind is list:
        return [encode(v, as_ref, depth + 1) for v in value]
    if kind in TAGGED:
        return {"t": TAGGED[kind], "v": [encode(v, as_ref, depth + 1) for v in value]}
    if kind is dict:
        return {"t": "dict", "v": [[encode(k, as_ref, depth + 1), encode(v, as_ref, depth + 1)]
                                   for k, v in value.items()]}
    if kind is bytes:
        return {"t": "bytes", "v": value.hex()}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    return as_ref(value)


def decode(data, from_ref, make_record=None, depth=0):
    """The value `encode` described; references become from_ref(tagged dict)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if kind in PLAIN_SCALARS:
        return data
    if kind is list:
        return [decode(v, from_ref, make_record, depth + 1) for v in data]
    if kind is not dict:
        raise WireError("malformed value")
    tag, v = data.get("t"), data.get("v")
    if tag == "ref":
        return from_ref(data)
    if tag == "bytes" and type(v) is str:
        return bytes.fromhex(v)
    if tag == "complex" and type(v) is list and len(v) == 2:
        return complex(float(v[0]), float(v[1]))
    if type(v) is not list:
        raise WireError("malformed value")
    items = [decode(x, from_ref, make_record, depth + 1) for x in v]
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    if tag == "dict" and all(type(p) is list and len(p) == 2 for p in items):
        return {k: x for k, x in items}
    if tag == "record" and make_record is not None and type(data.get("type")) is str:
        return make_record(data["type"], items)
    raise WireError("malformed value")


# bound at definition: a solution that rebinds os.write or json.dumps in its box still talks
def send(fd, message, write=os.write, dumps=json.dumps):
    data = (dumps(message) + "\n").encode()
    while data:
        data = data[write(fd, data):]


def receive(stream, loads=json.loads):
    line = stream.readline(MAX_LINE + 1)
    if not line:
        raise EOFError("the other box's process ended")
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise WireError("message too long")
    return loads(line)


def short(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


# ------------------------------------------------------------------------------ the solution's side

def data_of(obj, as_ref):
    """Plain data describing one of the solution's objects, for comparisons made in the grader."""
    import dataclasses
    import enum
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
        return {"t": "record", "type": short(type(obj).__qualname__), "v": [encode(p, as_ref) for p in fields]}
    if isinstance(obj, enum.Enum):
        return {"t": "record", "type": short(type(obj).__qualname__), "v": [encode(("name", obj.name), as_ref)]}
    for base in (tuple, list, dict, set, frozenset, str, bytes, int, float, complex):
        if isinstance(obj, base):  # a namedtuple, an IntEnum, a str subclass: its plain value
            return encode(base(obj), as_ref)
    raise TypeError(f"a {type(obj).__qualname__} object has no plain data to compare")


def serve():
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # input() and print() of the solution must not touch the channel
    os.dup2(null, 1)
    os.close(null)

    objects = {}

    def as_ref(obj):
        objects[id(obj)] = obj
        try:
            name = short(type(obj).__qualname__)
        except BaseException:
            name = "object"
        return {"t": "ref", "v": id(obj), "type": name, "callable": callable(obj)}

    def from_ref(data):
        if data.get("v") not in objects:
            raise WireError("unknown reference")
        return objects[data["v"]]

    namespace = {"__name__": "solution", "__builtins__": builtins}
    try:
        with open("solution.py", encoding="utf-8", errors="replace") as f:
            exec(compile(f.read(), "solution.py", "exec"), namespace)
    except BaseException:
        send(replies, {"loaded": False})
        os._exit(2)  # a half-loaded solution is never tested
    names = {}
    for name, value in list(namespace.items()):
        if not name.startswith("__") and type(value).__name__ != "module":
            try:
                names[name] = encode(value, as_ref)
            except BaseException:
                names[name] = as_ref(value)
    send(replies, {"loaded": True, "names": names})

    def value(message, key):
        return decode(message.get(key), from_ref)

    while True:
        try:
            message = receive(requests)
        except EOFError:
            os._exit(0)
        try:
            op = message["op"]
            target = value(message, "target")
            if op == "call":
                args, kwargs = value(message, "args"), value(message, "kwargs")
                result = target(*args, **kwargs)
            elif op == "getattr":
                result = getattr(target, message["name"])
            elif op == "setattr":
                result = setattr(target, message["name"], value(message, "value"))
            elif op == "getitem":
                result = target[value(message, "key")]
            elif op == "setitem":
                target[value(message, "key")] = value(message, "value")
                result = None
            elif op == "delitem":
                del target[value(message, "key")]
                result = None
            elif op == "len":
                result = len(target)
            elif op == "bool":
                result = bool(target)
            elif op in ("str", "repr"):
                result = (str if op == "str" else repr)(target)
            elif op == "contains":
                result = value(message, "value") in target
            elif op == "iter":
                send(replies, {"ok": as_ref(iter(target))})
                continue
            elif op == "next":
                try:
                    result = next(target)
                except StopIteration:
                    send(replies, {"stop": True})
                    continue
            elif op == "data":
                send(replies, {"ok": data_of(target, as_ref)})
                continue
            else:
                raise WireError(f"unknown request {op!r}")
            send(replies, {"ok": encode(result, as_ref)})
        except BaseException as err:  # SystemExit and KeyboardInterrupt from a call end that call only
            try:
                reply = {"raised": {"type": short(type(err).__name__), "message": short(err)}}
            except BaseException:
                reply = {"raised": {"type": "Exception", "message": ""}}
            send(replies, reply)


# ------------------------------------------------------------------------------------ the grader's side

class SolutionError(Exception):
    """An exception the solution raised whose type is not one of Python's built-in exceptions."""


class Record:
    """A dataclass or enum member of the solution, as data: equal to another with the same type name
    and fields; its fields read as attributes."""
    __slots__ = ("type", "fields")

    def __init__(self, type_name, fields):
        object.__setattr__(self, "type", type_name)
        object.__setattr__(self, "fields", tuple(tuple(p) for p in fields))

    def __eq__(self, other):
        return type(other) is Record and (self.type, self.fields) == (other.type, other.fields)

    def __hash__(self):
        return hash((self.type, self.fields))

    def __getattr__(self, name):
        for key, value in self.fields:
            if key == name:
                return value
        raise AttributeError(name)

    def __repr__(self):
        return "%s(%s)" % (self.type, ", ".join("%s=%r" % p for p in self.fields))


class Channel:
    def __init__(self, out_fd, in_fd):
        self.out, self.stream = out_fd, os.fdopen(in_fd, "rb")

    def ask(self, op, target, **fields):
        message = {"op": op, "target": encode(target, remote_ref)}
        message.update({k: encode(v, remote_ref) for k, v in fields.items()})
        send(self.out, message)
        reply = receive(self.stream)
        if type(reply) is not dict:
            raise WireError("malformed reply")
        if "ok" in reply:
            return decode(reply["ok"], self.remote, Record)
        if reply.get("stop") is True:
            raise StopIteration
        raised = reply.get("raised")
        if type(raised) is dict:
            raise mirrored(str(raised.get("type")), str(raised.get("message")))
        raise WireError("malformed reply")

    def remote(self, data):
        return Remote(self, data)


def mirrored(type_name, message):
    """The grader's own copy of an exception the solution raised (built-in types keep their type,
    so a test that expects ValueError sees one)."""
    cls = getattr(builtins, type_name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, StopIteration):
        return cls(message)
    return SolutionError("%s: %s" % (type_name, message))


def remote_ref(value):
    if type(value) is Remote:
        return object.__getattribute__(value, "_ref")
    raise WireError("a test can pass only plain data (or the solution's own objects) to the solution, "
                    "not a %s" % type(value).__name__)


class Remote:
    """One of the solution's objects, seen from the grader: every use is a request to its box."""
    __slots__ = ("_channel", "_ref")

    def __init__(self, channel, ref):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_ref", {"t": "ref", "v": ref.get("v")})

    def _ask(self, op, **fields):
        return object.__getattribute__(self, "_channel").ask(op, self, **fields)

    def __call__(self, *args, **kwargs):
        return self._ask("call", args=list(args), kwargs=kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name, value):
        self._ask("setattr", name=name, value=value)

    def __getitem__(self, key):
        return self._ask("getitem", key=key)

    def __setitem__(self, key, value):
        self._ask("setitem", key=key, value=value)

    def __delitem__(self, key):
        self._ask("delitem", key=key)

    def __len__(self):
        return self._ask("len")

    def __bool__(self):
        return self._ask("bool")

    def __str__(self):
        return self._ask("str")

    def __repr__(self):
        return self._ask("repr")

    def __contains__(self, value):
        return self._ask("contains", value=value)

    def __iter__(self):
        iterator = self._ask("iter")
        while True:
            try:
                yield iterator._ask("next")
            except StopIteration:
                return

    def _data(self):
        return self._ask("data")

    def __eq__(self, other):
        if type(other) is Remote and other._ref["v"] == self._ref["v"]:
            return True
        try:
            mine = self._data()
        except Exception:
            return NotImplemented
        return mine == (other._data() if type(other) is Remote else other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __lt__(self, other):
        return self._data() < (other._data() if type(other) is Remote else other)

    def __le__(self, other):
        return self._data() <= (other._data() if type(other) is Remote else other)

    def __gt__(self, other):
        return self._data() > (other._data() if type(other) is Remote else other)

    def __ge__(self, other):
        return self._data() >= (other._data() if type(other) is Remote else other)

    def __hash__(self):
        return hash(("solution object", self._ref["v"]))


def grade(out_fd, in_fd):
    with open("tests.json", encoding="utf-8") as f:
        tests = json.load(f)
    verdicts = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what the tests themselves print is not a verdict
    os.close(null)
    channel = Channel(out_fd, in_fd)
    try:
        hello = receive(channel.stream)
    except (EOFError, ValueError):
        hello = {}
    if type(hello) is not dict or hello.get("loaded") is not True or type(hello.get("names")) is not dict:
        return  # did not load (or did not say so): every test failed
    names = {}
    for name, data in hello["names"].items():
        try:
            names[str(name)] = decode(data, channel.remote, Record)
        except (WireError, ValueError, TypeError):
            pass
    for i, test in enumerate(tests):
        try:
            exec(compile(test, "test_%d" % i, "exec"), {"__builtins__": builtins, "__name__": "test", **names})
            verdict = "pass"
        except BaseException:
            verdict = "fail"
        print(verdict, i, file=verdicts, flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    elif sys.argv[1:2] == ["grade"]:
        grade(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: code_box.py serve | grade OUT_FD IN_FD")
