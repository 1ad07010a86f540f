"""Bad session directories through the `record` command: every case gives one line naming the file
(and line) and what to fix, exit status 2, no traceback, and writes nothing anywhere.

The whole matrix runs the command's entry point in this process (the same code a shell runs, a
process start costs a second here); a sample runs it as a real process, as a user would."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from recorder import cli
from tests import fakes
from tests.cli import record as run_record

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "web"
INDEX = "files/var/www/html/index.html"


def record(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "300"}
    done = run_record(*args, env=env)
    return done.returncode, done.stdout, done.stderr


def record_here(capsys, *args: str) -> tuple[int, str, str]:
    """`record ARGS` through its entry point, `recorder.cli:main`, in this process."""
    capsys.readouterr()
    saved = sys.argv
    sys.argv = ["record", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    out = capsys.readouterr()
    return code, out.out, out.err


def edit(old: str, new: str) -> Callable[[Path], None]:
    def change(d: Path) -> None:
        text = (d / "session.yaml").read_text()
        assert old in text, old
        (d / "session.yaml").write_text(text.replace(old, new, 1))

    return change


def write(text: str) -> Callable[[Path], None]:
    return lambda d: (d / "session.yaml").write_text(text)


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda d: (d / "session.yaml").write_bytes(data)


def replace_with_link(relative: str, target: str) -> Callable[[Path], None]:
    def change(d: Path) -> None:
        path = d / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        path.symlink_to(target)

    return change


def huge(d: Path) -> None:
    with open(d / "session.yaml", "a") as f:
        line = "# " + "x" * 1022 + "\n"
        for _ in range(17 * 1024):
            f.write(line)


def not_utf8(d: Path) -> None:
    text = (d / "session.yaml").read_bytes()
    (d / "session.yaml").write_bytes(text.replace(b"why: refreshes", b"why: r\xffefreshes", 1))


def hand_written_secret(d: Path) -> None:
    edit("APP_ENV: staging", f"APP_ENV: {fakes.aws_access_key_id()}")(d)


def secret_in_a_message(d: Path) -> None:
    edit("replay: skip", f"replay: {fakes.github_token()}")(d)


F = "{d}/session.yaml"
OUTSIDE = "points outside the session directory"
DEEP = "[" * 600 + "]" * 600  # past the parser's recursion; deeper only costs time (its scanner is quadratic)

# case -> (how the example is broken, what the one line must say; "{d}" is the session directory)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "malformed YAML": (edit("name: web", "name: [web"), F + ":8: not valid YAML"),
    "tab indentation": (edit("  os_id: debian", "\tos_id: debian"), F + ":9: not valid YAML"),
    "duplicate key": (edit("name: web\n", "name: web\nname: app\n"), F + ":8: not valid YAML: found duplicate"),
    "nested too deeply": (write(f"schema: 1\nname: x\nwarnings: {DEEP}\n"), "nested too deeply"),
    "an impossible date": (write("schema: 1\nname: 2024-13-45\n"), F + ": not valid YAML: month must be"),
    "empty file": (write(""), F + ": expected a mapping with `schema`"),
    "a list, not a mapping": (write("- a\n- b\n"), "expected a mapping with `schema`, `name` and `steps`, got a list"),
    "unknown schema version": (edit("schema: 1", "schema: 2"), F + ":6: schema: version 2 is not supported"),
    "schema missing": (edit("schema: 1\n", ""), "session: missing required key `schema`"),
    "wrong type": (edit("exit: 0", "exit: zero"), F + ":18: steps[0].exit: expected an integer, got a string"),
    "a boolean for an id": (edit("id: 1", "id: true"), F + ":15: steps[0].id: expected an integer, got true"),
    "missing command": (edit("    command: apt-get update\n", ""), "steps[0]: missing required key `command`"),
    "missing name": (edit("name: web\n", ""), "session: missing required key `name`"),
    "step not a mapping": (edit("  - id: 1\n", "  - 1\n  - id: 1\n"), "steps[0]: expected a mapping, got an integer"),
    "unknown replay": (edit("replay: skip", "replay: later"), ":19: steps[0].replay: `later` is not one of run, files"),
    "duplicate step ids": (edit("  - id: 2\n", "  - id: 1\n"), "steps[1].id: step id 1 is used twice"),
    "port out of range": (edit("port: 8080", "port: 80800"), "80800 is not a port number"),
    "mode not octal": (edit("mode: '0644'", "mode: '0988'"), "`0988` is not an octal mode"),
    "relative cwd": (edit("cwd: /root", "cwd: root"), ":17: steps[0].cwd: `root` must be an absolute path"),
    "cwd on two lines": (edit("cwd: /root", 'cwd: "/root\\nRUN rm -rf /"'), "steps[0].cwd: must be one line"),
    "bad variable name": (edit("APP_ENV: staging", "APP ENV: staging"), "`APP ENV` is not a variable name"),
    "bad package version": (edit("nginx: 1.22.1-9+deb12u9", "nginx: 1.0 && curl evil"), "is not a package version"),
    "bad base image": (edit("base_image: debian:12", "base_image: debian 12"), "`debian 12` is not an image name"),
    "path with ..": (edit("path: /var/www/html/index.html", "path: /var/www/../../etc/passwd"), "without `..`"),
    "relative path": (edit("path: /var/www/html/index.html", "path: var/www/html/index.html"), "must be an absolute"),
    "referenced file missing": (lambda d: (d / INDEX).unlink(), "{d}/" + INDEX + ": missing; step 3 copies it"),
    "referenced file is a directory": (
        lambda d: ((d / INDEX).unlink(), (d / INDEX).mkdir()),
        "{d}/" + INDEX + ": not a regular file",
    ),
    "symlinked file pointing outside": (replace_with_link(INDEX, "/etc/passwd"), OUTSIDE),
    "symlinked files/ pointing outside": (replace_with_link("files", "/"), OUTSIDE),
    "symlinked directory under files/ pointing outside": (replace_with_link("files/var/www", "/var"), OUTSIDE),
    "session.yaml a symlink outside": (replace_with_link("session.yaml", "/etc/hostname"), OUTSIDE),
    "session.yaml missing": (lambda d: (d / "session.yaml").unlink(), F + ": missing"),
    "huge session.yaml": (huge, F + ": 17 MiB is too large for a session (limit 16 MiB)"),
    "not UTF-8": (not_utf8, F + ":20: not UTF-8 text"),
    "a NUL byte": (write_bytes(b"schema: 1\nname: x\x00\n"), "not valid YAML: unacceptable character"),
    "a secret written by hand": (hand_written_secret, ":89: step 6: env_set.APP_ENV holds what looks like a secret"),
    "a secret quoted in the error": (secret_in_a_message, "is not one of run, files, skip"),
}


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every path under the roots with its kind, mode and content: what 'nothing written' means."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            if path.is_symlink():
                content: bytes | str | None = os.readlink(path)
            else:
                content = path.read_bytes() if path.is_file() else None
            out[str(path)] = (st.st_mode, content)
    return out


def broken(tmp_path: Path, case: str) -> Path:
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    (d / "Dockerfile").write_text("kept as it was\n")
    CASES[case][0](d)
    return d


def check(d: Path, case: str, code: int, stdout: str, stderr: str) -> None:
    assert code == 2, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("record: error: ")
    assert "Traceback" not in stderr
    assert CASES[case][1].format(d=d) in lines[0]
    assert str(d) in lines[0]  # names the file
    assert "gh" + "p_" not in lines[0] and "AK" + "IA" not in lines[0]  # a quoted secret is scrubbed


# Every command that reads a session directory, as a user would call it on the broken one.
READERS: dict[str, Callable[[Path], list[str]]] = {
    "to-dockerfile": lambda d: ["to-dockerfile", str(d)],
    "build": lambda d: ["build", str(d), "--tag", "never-built:x"],
    "build --verify": lambda d: ["build", str(d), "--tag", "never-built:x", "--verify"],
    "to-k8s": lambda d: ["to-k8s", str(d)],
    "to-compose": lambda d: ["to-compose", str(d)],
    "show": lambda d: ["show", str(d)],
    "show --json": lambda d: ["show", str(d), "--json"],
    "diff (before)": lambda d: ["diff", str(d), str(EXAMPLE)],
    "diff (after)": lambda d: ["diff", str(EXAMPLE), str(d)],
    "check": lambda d: ["check", str(d)],
    "verify": lambda d: ["verify", str(d), "--tag", "never-built:x"],
    "minimize": lambda d: ["minimize", str(d)],
}


def test_every_command_that_reads_a_session_is_in_the_matrix():
    """A new command taking a session directory must join READERS, or the matrix says nothing of it."""
    takes_a_session = set()
    for command in cli.app.registered_commands:
        params = command.callback.__annotations__
        if any("Path" in str(v) for k, v in params.items() if k in ("session_dir", "paths")) or command.name == "diff":
            takes_a_session.add(command.name or command.callback.__name__)
    covered = {name.split()[0] for name in READERS}
    assert takes_a_session - {"start", "resume"} <= covered, takes_a_session - covered


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_session_is_one_line_exit_2_and_nothing_is_written(tmp_path, capsys, case, reader):
    d = broken(tmp_path, case)
    before = snapshot(tmp_path)
    check(d, case, *record_here(capsys, *READERS[reader](d)))
    assert snapshot(tmp_path) == before


SAMPLE = ["malformed YAML", "unknown schema version", "symlinked file pointing outside", "huge session.yaml"]


@pytest.mark.parametrize("case", SAMPLE)
def test_bad_session_as_a_real_process(tmp_path, case):
    d = broken(tmp_path, case)
    before = snapshot(tmp_path)
    check(d, case, *record("to-dockerfile", str(d)))
    check(d, case, *record("build", str(d), "--tag", "never-built:x"))
    assert snapshot(tmp_path) == before


def test_a_generated_file_that_is_a_symlink_out_is_refused_and_nothing_is_written(tmp_path, capsys):
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (d / "Dockerfile").unlink()
    (d / "Dockerfile").symlink_to(outside)
    before = snapshot(tmp_path)
    code, _, stderr = record_here(capsys, "to-dockerfile", str(d))
    assert code == 2 and len(stderr.splitlines()) == 1
    assert f"{d / 'Dockerfile'}: is a symlink; remove it" in stderr
    assert snapshot(tmp_path) == before


def test_not_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert record_here(capsys, "to-dockerfile", str(f)) == (2, "", f"record: error: {f}: is not a directory\n")
