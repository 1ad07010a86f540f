"""`record to-k8s` and `record to-compose` as a user runs them: files written, kept, and one-line errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cli import record

HERE = Path(__file__).resolve().parents[1]
EXAMPLE = HERE.parent / "sessions" / "web"
DB = HERE / "golden" / "db"


@pytest.fixture
def web(tmp_path) -> Path:
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    return d


def test_help_describes_the_migration_commands():
    out = record("--help", env={**os.environ, "COLUMNS": "200"}).stdout
    for command, words in [("to-k8s", "Kubernetes manifests"), ("to-compose", "docker-compose.yml")]:
        line = next(line for line in out.splitlines() if line.startswith(f"│ {command} "))
        assert words in line


def test_to_k8s_writes_the_manifests_into_the_output_directory(web, tmp_path):
    out = tmp_path / "manifests"
    result = record("to-k8s", str(web), "-o", str(out), "--nodeport", "30080", "--image", "registry.local/web:1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["configmap.yaml", "deployment.yaml", "service.yaml"]
    assert "nodePort: 30080" in (out / "service.yaml").read_text()
    assert "image: registry.local/web:1" in (out / "deployment.yaml").read_text()
    assert (web / "k8s" / "service.yaml").read_text() == (EXAMPLE / "k8s" / "service.yaml").read_text()  # untouched


def test_to_k8s_defaults_to_the_session_directory_and_leaves_equal_files_alone(web):
    shutil.rmtree(web / "k8s")
    assert record("to-k8s", str(web)).returncode == 0
    written = {p.name: p.stat().st_mtime_ns for p in (web / "k8s").iterdir()}
    assert written.keys() == {"configmap.yaml", "deployment.yaml", "service.yaml"}
    for p in (web / "k8s").iterdir():
        os.utime(p, ns=(1, 1))
    again = record("to-k8s", str(web))
    assert again.returncode == 0 and "unchanged" in again.stderr
    assert all(p.stat().st_mtime_ns == 1 for p in (web / "k8s").iterdir())
    assert (web / "k8s" / "deployment.yaml").read_text() == (EXAMPLE / "k8s" / "deployment.yaml").read_text()


def test_to_k8s_says_which_files_are_no_longer_generated(web):
    (web / "k8s" / "statefulset.yaml").write_text("kept\n")
    result = record("to-k8s", str(web))
    assert result.returncode == 0
    assert "statefulset.yaml is no longer generated" in result.stderr
    assert (web / "k8s" / "statefulset.yaml").read_text() == "kept\n"


def test_to_k8s_bad_nodeport_is_one_line_exit_2_without_writing(web):
    shutil.rmtree(web / "k8s")
    result = record("to-k8s", str(web), "--nodeport", "80")
    assert result.returncode == 2
    assert result.stderr == "record: error: --nodeport 80: node ports must be within 30000-32767\n"
    assert not (web / "k8s").exists()


def test_to_k8s_malformed_session_is_one_line_exit_2(web):
    (web / "session.yaml").write_text("schema: 1\nname: web\nservices: {}\n")
    result = record("to-k8s", str(web))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"record: error: {web / 'session.yaml'}:3: session.services: expected a list")


def test_to_k8s_session_without_a_service_is_one_line_exit_2(web):
    text = (web / "session.yaml").read_text()
    (web / "session.yaml").write_text(text[: text.index("services:")] + "services: []\nwarnings: []\n")
    result = record("to-k8s", str(web))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no service was listening" in result.stderr


def test_to_compose_writes_the_compose_file_and_the_secrets_example(tmp_path):
    d = tmp_path / "db"
    shutil.copytree(DB, d)
    (d / "docker-compose.yml").unlink()
    (d / "secrets.env.example").unlink()
    result = record("to-compose", str(d))
    assert result.returncode == 0, result.stderr
    assert (d / "docker-compose.yml").read_text() == (DB / "docker-compose.yml").read_text()
    assert (d / "secrets.env.example").read_text() == (DB / "secrets.env.example").read_text()
    assert not (d / "secrets.env").exists()
    assert "copy secrets.env.example to secrets.env" in result.stderr
