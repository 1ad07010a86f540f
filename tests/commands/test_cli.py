"""The `record` command's surface: help, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli import record

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "web"


def test_help_lists_every_command_with_a_description():
    out = record("--help", env={**os.environ, "COLUMNS": "200"}).stdout
    for command, words in [
        ("start", "record the deployment"),
        ("to-dockerfile", "Dockerfile"),
        ("build", "Docker engine"),
        ("show", "what each step becomes in the image"),
        ("diff", "packages, files, ports, env, entrypoint"),
        ("check", "differ from what session.yaml generates"),
        ("verify", "answers like staging"),
    ]:
        line = next(line for line in out.splitlines() if line.startswith(f"│ {command} "))
        assert words in line


def test_missing_session_directory_is_one_line_exit_2(tmp_path):
    result = record("to-dockerfile", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"record: error: {tmp_path / 'nope'}: no such session directory"


def test_malformed_session_is_one_line_exit_2_and_writes_nothing(tmp_path):
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    (d / "Dockerfile").write_text("kept as it was\n")
    (d / "session.yaml").write_text("schema: 1\nname: web\nsteps:\n  - id: one\n    command: ls\n    exit: 0\n")
    result = record("to-dockerfile", str(d))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{d / 'session.yaml'}:4: steps[0].id: expected an integer" in result.stderr
    assert (d / "Dockerfile").read_text() == "kept as it was\n"


def test_to_dockerfile_writes_the_context_files(tmp_path):
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    (d / "Dockerfile").unlink()
    result = record("to-dockerfile", str(d), "--base", "example/base:1")
    assert result.returncode == 0, result.stderr
    assert (d / "Dockerfile").read_text().splitlines()[2] == "FROM example/base:1"
    assert "session.yaml" in (d / ".dockerignore").read_text().splitlines()


def test_a_session_directory_with_brackets_in_its_name_is_named_as_it_is(tmp_path):
    d = tmp_path / "[/]web [bold]"  # rich would take these for markup (and fail on the first)
    shutil.copytree(EXAMPLE, d)
    result = record("to-dockerfile", str(d))
    assert result.returncode == 0, result.stderr
    # the shipped example holds its generated files already: one writer says so rather than rewriting them
    assert result.stderr.splitlines() == [f"unchanged {d / name}" for name in ("Dockerfile", ".dockerignore")]


def test_build_without_an_engine_says_how_to_start_one(tmp_path):
    result = record(
        "build",
        str(EXAMPLE),
        "--tag",
        "web:x",
        env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "cannot reach the Docker engine" in result.stderr and "dockerd" in result.stderr
    assert result.stderr.count("\n") == 1


def test_start_needs_a_terminal(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recorder", "start", "--name", "x", "--dir", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr
    assert not (tmp_path / "x").exists()
