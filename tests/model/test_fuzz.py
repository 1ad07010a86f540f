"""Property-based fuzzing of the session loader and the generators: no input makes them raise anything
but RecorderError, and whatever loads generates well-formed, deterministic output."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from generators import dockerfile
from recorder.errors import RecorderError
from recorder.model import read, write
from recorder.model import session as s
from recorder.secrets import guard, redact

FILE = Path("session.yaml")
EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "web" / "session.yaml"
INSTRUCTIONS = {"FROM", "LABEL", "SHELL", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT"}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values of every shape, including the awkward ones: control characters, line breaks, huge numbers.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text
)
wild = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=12
)


def documents(noise: bool) -> st.SearchStrategy:
    """Session-shaped documents; with `noise`, any field may instead hold anything at all."""

    def maybe(good: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(good, wild) if noise else good

    word = st.from_regex(r"[a-z][a-z0-9.+-]{0,10}", fullmatch=True)
    account = st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True) | st.integers(0, 70000)
    path = st.from_regex(r"(/[a-z0-9._ $-]{1,8}){1,4}", fullmatch=True)
    env_name = st.from_regex(r"[A-Z_]{1,6}", fullmatch=True)
    placeholder = st.from_regex(r"<redacted:[A-Z_]{1,8}>", fullmatch=True)
    file_change = st.fixed_dictionaries(
        {"path": maybe(path), "kind": maybe(st.sampled_from(["file", "symlink", "deleted"]))},
        optional={
            "mode": maybe(st.sampled_from(["0644", "0755", "4755"])),
            "owner": maybe(account),
            "group": maybe(account),
            "target": maybe(path),
            "secret": maybe(st.one_of(st.booleans(), text)),
        },
    )
    package = st.fixed_dictionaries(
        {"manager": maybe(st.sampled_from(["apt", "yum"]))},
        optional={
            "installed": maybe(st.dictionaries(word, word, max_size=3)),
            "dependencies": maybe(st.dictionaries(word, word, max_size=2)),
            "removed": maybe(st.lists(word, max_size=2)),
        },
    )
    effects = st.fixed_dictionaries(
        {},
        optional={
            "packages": maybe(st.lists(package, max_size=2)),
            "files": maybe(st.lists(file_change, max_size=3)),
            "env_set": maybe(st.dictionaries(env_name, text | placeholder, max_size=3)),
            "env_unset": maybe(st.lists(env_name, max_size=2)),
            "ports_opened": maybe(st.lists(st.integers(1, 65535), max_size=2)),
        },
    )
    command = st.one_of(text, placeholder.map(lambda p: f"curl -u me:{p} x"), text.map(lambda t: t + "\\"))
    step = st.fixed_dictionaries(
        {"id": maybe(st.integers(1, 50)), "command": maybe(command), "exit": maybe(st.integers(0, 3))},
        optional={
            "cwd": maybe(path),
            "replay": maybe(st.sampled_from(["run", "files", "skip"])),
            "why": maybe(text),
            "user": maybe(account),
            "expanded": maybe(text),
            "needed_secret": maybe(st.booleans()),
            "effects": maybe(effects),
        },
    )
    port = st.fixed_dictionaries({"port": maybe(st.integers(1, 65535))}, optional={"address": maybe(text)})
    service = st.fixed_dictionaries(
        {"name": maybe(word), "command": maybe(st.lists(text | placeholder, min_size=1, max_size=3))},
        optional={
            "cwd": maybe(path),
            "user": maybe(account),
            "observed": maybe(st.lists(text, max_size=2)),
            "ports": maybe(st.lists(port, max_size=2)),
        },
    )
    host = st.fixed_dictionaries({}, optional={"base_image": maybe(word), "user": maybe(account)})
    return st.fixed_dictionaries(
        {"schema": maybe(st.just(1)), "name": maybe(word)},
        optional={
            "host": maybe(host),
            "steps": maybe(st.lists(step, max_size=5, unique_by=lambda d: str(d.get("id")))),
            "services": maybe(st.lists(service, max_size=2)),
            "warnings": maybe(st.lists(text, max_size=2)),
        },
    )


def dump(doc: object) -> str:
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, buf)
    return buf.getvalue()


def well_formed(dockerfile_text: str) -> None:
    """Every line is blank, a comment, an instruction, or the continuation of one (as Docker splits lines)."""
    continued = False
    for line in dockerfile_text.split("\n"):
        if not continued and line.strip() and not line.startswith("#"):
            assert line.split(" ", 1)[0] in INSTRUCTIONS, line
        continued = line.endswith("\\") and not (not continued and line.startswith("#"))
    for line in dockerfile_text.split("\n"):
        if line.startswith(("ENV ", "ARG ")):
            assert "<redacted:" not in line, line  # a secret's placeholder is never baked in


def generate_all(session: s.Session) -> None:
    first = dockerfile.generate(session)
    assert dockerfile.generate(session) == first  # deterministic
    well_formed(first[dockerfile.DOCKERFILE])
    lines = first[dockerfile.DOCKERFILE].split("\n")
    for step in session.steps:
        command = step.command.strip()
        if step.replay == "run" and not step.effects.packages and command and "<redacted:" not in command:
            if "\n" in command or command.endswith("\\"):
                assert f"replay/step-{step.id}.sh" in first, command
            else:  # the command, whole, as the only content of its RUN line
                assert f"RUN {command}" in lines, command
    for line in first.get(".env.example", "").splitlines():
        assert line.startswith("#") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=", line), line
    assert read.from_yaml_text(write.to_yaml_text(session), FILE) == session  # what loads, saves and loads the same


@FUZZ
@given(st.text(max_size=400))
def test_any_text_loads_or_is_refused_with_the_tools_error(raw):
    try:
        session = read.from_yaml_text(raw, FILE)
    except RecorderError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(FILE))
        return
    generate_all(session)


@FUZZ
@given(st.text(alphabet="{}[]:-,&*!|>'\"#%@` \n\tabc01", max_size=200))
def test_yaml_punctuation_soup_loads_or_is_refused(raw):
    with contextlib.suppress(RecorderError):
        read.from_yaml_text("schema: 1\nname: x\n" + raw, FILE)


@FUZZ
@given(documents(noise=False))
def test_any_well_shaped_session_generates_well_formed_output(doc):
    try:
        session = read.from_yaml_text(dump(doc), FILE)
    except RecorderError as exc:
        assert "\n" not in str(exc)
        event("refused")
        return
    event(f"loaded with {len(session.steps)} steps")
    generate_all(session)
    with contextlib.suppress(RecorderError):
        guard.refuse_unredacted(session, FILE)


@FUZZ
@given(documents(noise=True))
def test_any_session_shaped_document_loads_and_generates_or_is_refused(doc):
    try:
        session = read.from_yaml_text(dump(doc), FILE)
    except RecorderError as exc:
        assert "\n" not in str(exc)
        return
    generate_all(session)


@FUZZ
@given(st.integers(0, 200), st.text(max_size=20))
def test_the_example_with_any_line_damaged_loads_or_is_refused(line, junk):
    lines = EXAMPLE.read_text().splitlines()
    lines[line % len(lines)] = junk
    try:
        session = read.from_yaml_text("\n".join(lines), FILE)
    except RecorderError:
        return
    generate_all(session)


@FUZZ
@given(wild)
def test_journal_steps_of_any_shape_load_or_are_refused(data):
    with contextlib.suppress(RecorderError):
        read.step_from_data(json.loads(json.dumps(data)), Path("journal.ndjson"))


@FUZZ
@given(st.text(max_size=200))
def test_the_redactor_takes_any_text(raw):
    r = redact.Redactor()
    out = r.command(raw)
    assert r.command(out) == out  # redacting twice changes nothing more
