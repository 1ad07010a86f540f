"""The fast session loader gives exactly what ruamel's loader gives, or steps aside (`Unsupported`) so
that ruamel loads the text: a scalar typed differently would change a value in the image."""

from __future__ import annotations

import importlib.util
import io
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from recorder.model import read, yamlload

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = sorted(ROOT.glob("sessions/*/session.yaml")) + sorted(ROOT.glob("tests/golden/*/session.yaml"))


def ruamel(text: str):
    return YAML(typ="safe", pure=True).load(text)


def same(a, b) -> bool:
    """Equal and of the same type all the way down (1 == 1.0 == True for Python, not for a session)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def agrees(text: str) -> bool:
    """True when the fast loader took the text and matched ruamel; False when it stepped aside."""
    try:
        fast = yamlload.load(text)
    except yamlload.Unsupported:
        return False
    expected = ruamel(text)
    assert same(fast, expected), f"{text!r}: fast {fast!r}, ruamel {expected!r}"
    return True


# Plain scalars made of the characters YAML's implicit types are made of: ints, octal, hex, floats,
# infinities, booleans, nulls, dates, underscores, and near misses of each.
TYPED = "0123456789+-._eExXoObB:tTrRuUfFaAlLsSnN~ "
plain = st.text(st.sampled_from(TYPED), min_size=1, max_size=10).map(str.strip).filter(bool)
words = st.sampled_from(
    ["0644", "0o17", "0x1F", "0XFa", "1_000", "_8", ".inf", "-.Inf", ".NaN", "1e3", "1.", ".5", "+5", "-0", "true",
     "True", "TRUE", "yes", "on", "null", "Null", "~", "2024-01-01", "2024-01-01T10:00:00Z", "12:30", "1.10", "=",
     "<<"]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(plain, words), min_size=1, max_size=6))
def test_plain_scalars_are_typed_as_ruamel_types_them(values):
    text = "".join(f"k{i}: {v}\n" for i, v in enumerate(values)) + "list: [" + ", ".join(values) + "]\n"
    try:
        ruamel(text)
    except Exception:  # noqa: BLE001 - not YAML ruamel takes: the fast loader must step aside too
        with pytest.raises(yamlload.Unsupported):
            yamlload.load(text)
        return
    agrees(text)


@settings(max_examples=500, deadline=None)
@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_whatever_ruamel_writes_loads_back_the_same(data):
    for flow in (False, None):
        writer = YAML(typ="safe", pure=True)
        writer.default_flow_style = flow
        buffer = io.StringIO()
        writer.dump({"data": data}, buffer)
        agrees(buffer.getvalue())


@pytest.mark.parametrize("path", SESSIONS, ids=lambda p: p.parent.name)
def test_shipped_sessions_load_as_ruamel_loads_them(path):
    text = path.read_text()
    if agrees(text):
        return
    # the fast loader stepped aside (libyaml refuses what ruamel's own parser takes): the session
    # still loads, through ruamel
    assert read.from_yaml_text(text, path).steps


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # an alias
        "a: !!str 1.10\n",  # an explicit tag
        "a: ! 12\n",  # the non-specific tag: a string, though it reads as plain
        "a: !!map {b: 1}\n",
        "base: &b {x: 1}\nother:\n  <<: *b\n",  # a merge key
        "a: 1\na: 2\n",  # a duplicate key: ruamel says so, with the line
        "{1: a, true: b}\n",  # keys Python takes for the same
        "? [a, b]\n: 1\n",  # a key that is a list
        "--- 1\n--- 2\n",  # two documents
        "%YAML 1.1\n---\na: yes\n",  # another YAML version's rules
        "a: =\n",  # a value key
        "a: [1, 2\n",  # not YAML
    ],
)
def test_what_only_ruamel_handles_is_left_to_it(text):
    with pytest.raises(yamlload.Unsupported):
        yamlload.load(text)


def test_an_anchor_nobody_refers_to_changes_nothing():
    assert agrees("a: &x 1\nb: &y [1, 2]\nc: &z {d: 0644}\n")


def test_a_session_with_a_tag_and_an_anchor_still_loads_through_ruamel(tmp_path):
    text = (
        "schema: 1\nname: web\nhost: &h {os_id: debian, version_id: !!str 12}\n"
        "steps:\n  - {id: 1, command: 'true', cwd: /root, exit: 0}\n"
    )
    with pytest.raises(yamlload.Unsupported):
        yamlload.load(text)
    session = read.from_yaml_text(text, tmp_path / "session.yaml")
    assert session.host.version_id == "12"
    assert [st.command for st in session.steps] == ["true"]


def test_without_pyyamls_libyaml_the_loader_reads_ruamels_binding_of_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml._yaml", None)  # as when PyYAML was built without libyaml
    spec = importlib.util.spec_from_file_location("yamlload_without_pyyaml", yamlload.__file__)
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)
    assert fallback.CParser.__module__.endswith("_ruamel_yaml")
    for path in SESSIONS[:1]:
        text = path.read_text()
        assert same(fallback.load(text), ruamel(text))
    assert same(fallback.load("a: [0644, 1.5, true, ~, '1', x]\n"), ruamel("a: [0644, 1.5, true, ~, '1', x]\n"))
    for text in ("a: !!str 1\n", "a: &x 1\nb: *x\n", "a: 1\na: 2\n"):
        with pytest.raises(fallback.Unsupported):
            fallback.load(text)
