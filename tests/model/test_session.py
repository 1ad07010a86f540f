"""session.yaml: round trip, and one-line errors that name the file and line for every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recorder.errors import RecorderError
from recorder.model import read, write
from recorder.model import session as s

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "web"


def test_example_round_trips_byte_for_byte():
    text = (EXAMPLE / "session.yaml").read_text()
    loaded = read.from_yaml_text(text, Path("session.yaml"))
    assert write.to_yaml_text(loaded) == text


def test_loaded_example_has_typed_steps():
    loaded = read.load(EXAMPLE)
    assert loaded.name == "web"
    assert [st.id for st in loaded.steps] == list(range(1, len(loaded.steps) + 1))
    install = next(st for st in loaded.steps if st.effects.packages)
    assert "nginx" in install.effects.packages[0].installed
    assert loaded.services[0].name == "nginx"
    assert any(f.mode == 0o644 for st in loaded.steps for f in st.effects.files)


def _session_with(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "session.yaml").write_text(text)
    return d


GOOD_STEP = "  - id: 1\n    command: echo hi\n    cwd: /\n    exit: 0\n    replay: skip\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schema: 1\nname: [unclosed\n", "session.yaml:3: not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("schema: 7\nname: x\n", "session.yaml:1: schema: version 7 is not supported"),
        ("name: x\n", "missing required key `schema`"),
        (
            "schema: 1\nname: x\nsteps:\n  - id: 1\n    command: ls\n    exit: nope\n",
            "session.yaml:6: steps[0].exit: expected an integer, got a string",
        ),
        ("schema: 1\nname: x\nsteps:\n" + GOOD_STEP + GOOD_STEP, "step id 1 is used twice"),
        (
            "schema: 1\nname: x\nsteps:\n  - id: 1\n    command: ls\n    exit: 0\n    replay: maybe\n",
            "session.yaml:7: steps[0].replay: `maybe` is not one of run, files, skip",
        ),
        (
            "schema: 1\nname: x\nsteps:\n  - id: 1\n    command: ls\n    exit: 0\n    effects:\n      files:\n"
            "        - path: ../../etc/passwd\n          kind: file\n",
            "must be an absolute path without `..`",
        ),
        ("schema: 1\nname: x\nservices:\n  - name: web\n    command: []\n", "needs a non-empty `command`"),
        (
            "schema: 1\nname: x\nservices:\n  - name: web\n    command: [a]\n    ports:\n      - port: 70000\n",
            "70000 is not a port number",
        ),
        ("schema: 1\nname: x\nfingerprint: [8080]\n", "session.yaml:3: fingerprint: expected a mapping"),
        (
            "schema: 1\nname: x\nfingerprint:\n  ports:\n    - port: 8080\n      accepts: maybe\n",
            "session.yaml:6: fingerprint.ports[0].accepts: expected true/false, got a string",
        ),
        (
            "schema: 1\nname: x\nfingerprint:\n  http:\n    - url: ftp://localhost/\n      status: 200\n",
            "session.yaml:5: fingerprint.http[0].url: `ftp://localhost/` is not an http:// URL with a host",
        ),
        (
            "schema: 1\nname: x\nfingerprint:\n  http:\n    - url: http://localhost:99999/\n      status: 200\n",
            "fingerprint.http[0].url: `http://localhost:99999/` is not a URL",
        ),
        (
            "schema: 1\nname: x\nfingerprint:\n  http:\n    - url: http://localhost/\n      status: 42\n",
            "session.yaml:6: fingerprint.http[0].status: 42 is not an HTTP status",
        ),
        (
            "schema: 1\nname: x\nfingerprint:\n  http:\n    - url: http://localhost/\n      status: 200\n"
            "      sha256: abc\n",
            "session.yaml:7: fingerprint.http[0].sha256: expected 64 lowercase hex digits",
        ),
        (
            "schema: 1\nname: x\nfingerprint:\n  http:\n    - url: http://localhost/\n      status: 200\n"
            f"      sha256: {'a' * 64}\n      step: 3\n",
            "session.yaml:8: fingerprint.http[0].step: there is no step 3",
        ),
    ],
)
def test_bad_session_gives_one_line_error_naming_the_file(tmp_path, text, expected):
    d = _session_with(tmp_path, text)
    with pytest.raises(RecorderError) as err:
        read.load(d)
    message = str(err.value)
    assert expected in message
    assert str(d / "session.yaml") in message
    assert "\n" not in message


def test_missing_directory_and_missing_file(tmp_path):
    with pytest.raises(RecorderError, match="no such session directory"):
        read.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecorderError, match="session.yaml: missing"):
        read.load(tmp_path / "empty")


def test_captured_file_that_is_missing_is_named(tmp_path):
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    shutil.rmtree(d / "files" / "var")
    with pytest.raises(RecorderError, match=r"files/var/www/html/index.html: missing; step 3 copies it"):
        read.load(d)


def test_non_utf8_session_file(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "session.yaml").write_bytes(b"schema: 1\nname: \xff\xfe\n")
    with pytest.raises(RecorderError, match="not UTF-8"):
        read.load(d)


def test_save_is_atomic_and_keeps_multiline_commands_readable(tmp_path):
    session = s.Session(name="t", steps=[s.Step(id=1, command="for i in 1 2; do\n  echo $i\ndone", cwd="/", exit=0)])
    path = write.save(session, tmp_path)
    text = path.read_text()
    assert "command: |-\n      for i in 1 2; do\n        echo $i\n      done\n" in text
    assert not list(tmp_path.glob("*.tmp"))
    assert read.from_yaml_text(text, path).steps[0].command == session.steps[0].command
