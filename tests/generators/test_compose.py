"""docker-compose.yml: golden files, determinism, the compose specification, and what must (not) appear."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from generators import compose
from recorder.model import read
from tests.tools import test_tool

HERE = Path(__file__).resolve().parents[1]
CASES = {
    "web": HERE.parent / "sessions" / "web",  # the shipped example: its committed compose file is the golden one
    "app": HERE / "golden" / "app",
    "db": HERE / "golden" / "db",
}
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CHECK_JSONSCHEMA = test_tool("check-jsonschema")


def generated(case: str) -> dict[str, str]:
    return compose.generate(read.load(CASES[case])).files


def service(case: str) -> dict:
    doc = yaml.safe_load(generated(case)[compose.COMPOSE_FILE])
    (entry,) = doc["services"].values()
    return entry


def docker_compose_available() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_compose_files_match_golden(case):
    for name, text in generated(case).items():
        target = CASES[case] / name
        if UPDATE:
            target.write_text(text)
        assert target.read_text() == text, f"{target} differs from what the session generates"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generation_is_deterministic(case):
    assert generated(case) == generated(case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_compose_file_is_accepted(case, tmp_path):
    """By `docker compose config` where the plugin is installed, and always by the compose specification's
    schema (shipped in check-jsonschema: Debian 12 has no compose v2, and nothing can be fetched here)."""
    directory = tmp_path / case
    shutil.copytree(CASES[case], directory)
    compose_file = directory / compose.COMPOSE_FILE
    compose_file.write_text(generated(case)[compose.COMPOSE_FILE])
    if (directory / compose.SECRETS_EXAMPLE).exists():
        shutil.copy(directory / compose.SECRETS_EXAMPLE, directory / compose.SECRETS_ENV)
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(compose_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if docker_compose_available():
        result = subprocess.run(
            ["docker", "compose", "-f", str(compose_file), "config", "--quiet"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path):
    broken = yaml.safe_load(generated("web")[compose.COMPOSE_FILE])
    broken["services"]["web"]["restart"] = ["always"]
    target = tmp_path / "docker-compose.yml"
    target.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(target)], capture_output=True
    )
    assert result.returncode == 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_yaml_1_1_and_1_2_readers_see_the_same_file(case):
    text = generated(case)[compose.COMPOSE_FILE]
    assert yaml.safe_load(text) == YAML(typ="safe").load(io.StringIO(text))


def test_web_service_has_the_recorded_ports_env_and_config_files():
    web = service("web")
    assert web["build"] == "." and web["image"] == "web:latest"
    assert web["ports"] == [{"target": 8080, "published": "8080", "protocol": "tcp"}]
    assert web["environment"] == {"APP_ENV": "staging"}
    assert web["volumes"] == [
        {
            "type": "bind",
            "source": "./files/etc/nginx/sites-available/default",
            "target": "/etc/nginx/sites-available/default",
            "read_only": True,
        }
    ]
    assert "env_file" not in web


@pytest.mark.parametrize("case", sorted(CASES))
def test_bind_mounts_point_at_captured_files(case):
    for volume in service(case).get("volumes", []):
        if volume["type"] == "bind":
            assert (CASES[case] / volume["source"]).is_file()
            assert volume["source"] == f"./files{volume['target']}"


def test_secrets_come_from_an_env_file_the_operator_writes():
    files = generated("db")
    assert "<redacted:" not in files[compose.COMPOSE_FILE]
    db = service("db")
    assert db["env_file"] == [compose.SECRETS_ENV]
    assert db["environment"] == {"DB_NAME": "app"}
    assert compose.SECRETS_ENV not in files  # the real values are never generated
    lines = files[compose.SECRETS_EXAMPLE].splitlines()
    assert "DB_PASSWORD=<redacted:DB_PASSWORD>" in lines
    assert "DATABASE_URL=mysql://app:<redacted:DB_PASSWORD>@127.0.0.1/app" in lines


def test_stateful_data_lives_in_a_named_volume():
    doc = yaml.safe_load(generated("db")[compose.COMPOSE_FILE])
    assert {"type": "volume", "source": "db-data", "target": "/var/lib/mysql"} in doc["services"]["db"]["volumes"]
    assert doc["volumes"] == {"db-data": {}}
    assert "volumes" not in yaml.safe_load(generated("web")[compose.COMPOSE_FILE])


def test_dollar_signs_are_not_interpolated():
    assert service("app")["environment"] == {"APP_MODE": "prod $$HOME"}
