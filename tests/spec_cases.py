"""Machine-made bad specs: hypothesis strategies, and the judge that every case must pass.

Used by ``tests/test_spec_fuzz.py`` and by ``benchmarks/reliability.py``. A case is the raw
bytes of a spec file; the judge loads it exactly as ``mlpspec run`` and ``mlpspec validate``
do (read, decode, parse, validate) and then makes the memory estimate of the build, and
returns ``"valid"`` or the class of the rejection. Anything but a :class:`SpecError` whose
every problem names its place is a failure: hypothesis then shrinks it to a minimal case.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import strategies as st

from mlpspec.core.errors import SpecError
from mlpspec.core.registry import Registry
from mlpspec.core.spec import load_spec, parse_toml
from mlpspec.run.budget import check_memory

BASE: dict[str, Any] = {
    "model": {"name": "fuzz", "seed": 1},
    "data": {"dataset": "mnist", "preprocess": "scale"},
    "layers": [
        {"type": "dense", "units": 32, "activation": "tanh", "init": {"type": "normal"}},
        {"type": "dense", "units": 10},
    ],
    "loss": {"type": "softmax_cross_entropy"},
    "optimizer": {"type": "sgd_momentum", "lr": 0.1},
    "scheduler": {"type": "exponential", "final_lr": 0.01},
    "train": {"epochs": 2, "batch_size": 32, "checkpoint_every": 1},
}
"""A valid spec the mutations start from."""

PATHS = [
    ("model",),
    ("model", "name"),
    ("model", "seed"),
    ("model", "dtype"),
    ("data",),
    ("data", "dataset"),
    ("data", "preprocess"),
    ("data", "validation"),
    ("layers",),
    ("layers", 0),
    ("layers", 0, "type"),
    ("layers", 0, "units"),
    ("layers", 0, "activation"),
    ("layers", 0, "init"),
    ("layers", 0, "init", "scale"),
    ("layers", 0, "dropout"),
    ("layers", 1, "units"),
    ("layers", 1, "l2"),
    ("loss",),
    ("loss", "type"),
    ("loss", "reduction"),
    ("optimizer", "lr"),
    ("optimizer", "momentum"),
    ("optimizer", "type"),
    ("scheduler", "final_lr"),
    ("train",),
    ("train", "epochs"),
    ("train", "iterations"),
    ("train", "batch_size"),
    ("train", "sampling"),
    ("train", "patience"),
    ("train", "checkpoint_every"),
    ("train", "keep_checkpoints"),
    ("spec_version",),
]

NAMES = st.sampled_from(
    [
        "dense",
        "tanh",
        "tanhh",
        "relu",
        "normal",
        "mnist",
        "spirals",
        "os.system",
        "subprocess.run",
        "__import__",
        "eval",
        "builtins.exec",
        "mlpspec.builtins.layers.Dense",
        "antigravity",
        "",
        "DENSE",
        "dense ",
    ]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 10**6, 10**9, 2**62]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]),
    st.text(max_size=12),
    NAMES,
)


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for level in range(depth):
        value = {f"t{level}": value}
    return value


DEEP = st.integers(1, 400).map(_nested)
"""Tables nested hundreds deep, where a field expects a number or a component."""

VALUES = (
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=8), inner, max_size=4),
            st.fixed_dictionaries({"type": NAMES}, optional={"units": inner, "scale": inner}),
        ),
        max_leaves=12,
    )
    | DEEP
)
KEYS = st.one_of(st.text(min_size=1, max_size=10), st.sampled_from(["units", "typ", "seed", "é"]))


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """The base spec after one to four edits: set a value, delete a key, add a key."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = _walk(data, path[:-1])
        if parent is None:
            continue
        action = draw(
            st.sampled_from(["set", "set", "delete", "extra", "empty_layers", "huge_layer"])
        )
        if action == "set":
            _put(parent, path[-1], draw(VALUES))
        elif action == "delete":
            _delete(parent, path[-1])
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        elif action == "empty_layers":
            data["layers"] = []
        elif action == "huge_layer" and isinstance(data.get("layers"), list) and data["layers"]:
            layer = draw(st.sampled_from(data["layers"]))
            if isinstance(layer, dict):
                layer["units"] = draw(st.sampled_from([10**5, 10**6, 10**9, 2**40]))
    return data


def _walk(node: Any, path: tuple) -> Any:
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _put(parent: Any, key: Any, value: Any) -> None:
    into_table = isinstance(parent, dict) and isinstance(key, str)
    into_array = isinstance(parent, list) and isinstance(key, int) and key < len(parent)
    if into_table or into_array:
        parent[key] = value


def _delete(parent: Any, key: Any) -> None:
    if isinstance(parent, dict):
        parent.pop(key, None)
    elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        del parent[key]


def as_toml(data: dict[str, Any]) -> bytes:
    return tomli_w.dumps(data).encode()


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    """A valid spec file with bytes inserted, deleted or replaced, or arbitrary bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=200))
    raw = bytearray(as_toml(BASE))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        junk = draw(
            st.binary(min_size=1, max_size=4) | st.sampled_from([b"[", b"=", b"\xff", b'"'])
        )
        if draw(st.booleans()):
            raw[at:at] = junk
        else:
            raw[at : at + len(junk)] = junk
    return bytes(raw)


SECTIONS = {"model", "data", "layers", "loss", "optimizer", "scheduler", "train", "spec_version"}
TEXT_PLACES = re.compile(r"line \d+, column \d+( \(byte \d+\))?|end of file")


def judge(raw: bytes, registry: Registry, scratch: Path) -> str:
    """Load ``raw`` as a spec file: ``"valid"``, or the class of its rejection.

    Raises ``AssertionError`` for a rejection that does not name its place; any exception
    other than :class:`SpecError` propagates (a crash is a failure).
    """
    scratch.write_bytes(raw)
    try:
        spec = load_spec(scratch, registry)
        check_memory(spec, features=784, examples=60000, limit=8 * 2**30)
    except SpecError as error:
        assert error.exit_code == 2
        tops = SECTIONS | _top_level_keys(raw)  # an unknown key is placed at itself
        for problem in error.problems:
            place = problem.location
            assert place, f"a problem without a place: {problem.message!r}"
            assert TEXT_PLACES.fullmatch(place) or any(place.startswith(k) for k in tops), (
                f"not a place in the spec: {place!r}"
            )
        return classify(error)
    return "valid"


def _top_level_keys(raw: bytes) -> set[str]:
    try:
        return set(parse_toml(raw.decode()))
    except (UnicodeDecodeError, SpecError):
        return set()


def classify(error: SpecError) -> str:
    """The kind of rejection, by its first problem, for the reliability report."""
    message = error.problems[0].message
    rules = [
        ("not UTF-8", "not UTF-8"),
        ("invalid TOML", "invalid TOML"),
        ("unknown key", "unknown key"),
        ("required but missing", "missing key"),
        ("unknown ", "unknown component"),
        ("too large", "too large for memory"),
        ("at least 1 item", "no layers"),
        ("name must be a string", "malformed component reference"),
        ("'type'", "malformed component reference"),
        ("should be a valid", "wrong type"),
        ("should be", "out of range or not allowed"),
    ]
    for needle, name in rules:
        if needle in message:
            return name
    return "combination rule (e.g. epochs and iterations both given)"
