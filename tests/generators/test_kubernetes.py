"""Kubernetes manifests: golden files, determinism, the Kubernetes schemas, and what must (not) appear."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ruamel.yaml import YAML

from generators import kubernetes
from recorder.commands.generate import K8S_DIR, captured_configs
from recorder.errors import RecorderError
from recorder.model import read

HERE = Path(__file__).resolve().parents[1]
CASES = {
    "web": HERE.parent / "sessions" / "web",  # the shipped example: its committed manifests are the golden ones
    "app": HERE / "golden" / "app",
    "db": HERE / "golden" / "db",
}
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
KUBERNETES_VERSION = "1.30.0"  # the schemas the manifests must satisfy (kubernetes-validate ships them)


def manifests(case: str, **options) -> kubernetes.Manifests:
    directory = CASES[case]
    session = read.load(directory)
    return kubernetes.generate(session, captured_configs(session, directory), **options)


def documents(m: kubernetes.Manifests) -> dict[str, dict]:
    """Every object, by kind, read the way kubectl reads YAML (1.1 rules)."""
    out = {}
    for text in m.files.values():
        for doc in yaml.safe_load_all(text):
            out[doc["kind"]] = doc
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifests_match_golden(case):
    directory = CASES[case] / K8S_DIR
    generated = manifests(case).files
    if UPDATE:
        directory.mkdir(exist_ok=True)
        for stale in set(p.name for p in directory.iterdir()) - set(generated):
            (directory / stale).unlink()
        for name, text in generated.items():
            (directory / name).write_text(text)
    assert sorted(p.name for p in directory.iterdir()) == sorted(generated)
    for name, text in generated.items():
        assert (directory / name).read_text() == text, f"{directory / name} differs from what the session generates"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generation_is_deterministic(case):
    assert manifests(case).files == manifests(case).files
    assert manifests(case, nodeport=31000).files == manifests(case, nodeport=31000).files


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("nodeport", [None, 30080])
def test_every_object_satisfies_the_kubernetes_schema(case, nodeport):
    checked = []
    for name, text in manifests(case, nodeport=nodeport).files.items():
        for doc in yaml.safe_load_all(text):
            # strict: unknown fields fail too; a missing schema raises instead of passing silently
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked.append((name, doc["kind"]))
    assert ("service.yaml", "Service") in checked


def test_schema_validation_catches_a_broken_manifest():
    doc = documents(manifests("web"))["Deployment"]
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_yaml_1_1_and_1_2_readers_see_the_same_objects(case):
    for name, text in manifests(case).files.items():
        assert list(yaml.safe_load_all(text)) == list(YAML(typ="safe").load_all(io.StringIO(text))), name


def test_web_deployment_runs_the_recorded_service():
    objects = documents(manifests("web"))
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/usr/sbin/nginx", "-g", "daemon off;"]
    assert container["image"] == "web:latest"
    assert container["ports"] == [{"name": "tcp-8080", "containerPort": 8080, "protocol": "TCP"}]
    assert container["env"] == [{"name": "APP_ENV", "value": "staging"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert container["livenessProbe"]["tcpSocket"] == {"port": 8080}
    assert "securityContext" not in container  # nginx ran as root on staging
    assert objects["Service"]["spec"]["type"] == "ClusterIP"
    assert objects["Service"]["spec"]["selector"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]
    assert "Secret" not in objects and "StatefulSet" not in objects


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_files_are_mounted_at_their_paths_with_their_captured_bytes(case):
    directory = CASES[case]
    objects = documents(manifests(case))
    pod = (objects.get("Deployment") or objects["StatefulSet"])["spec"]["template"]["spec"]
    config = objects["ConfigMap"]
    stored = {k: v.encode() for k, v in config.get("data", {}).items()}
    stored.update({k: base64.b64decode(v) for k, v in config.get("binaryData", {}).items()})
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config"]
    assert mounts
    for mount in mounts:
        assert stored[mount["subPath"]] == (directory / "files" / mount["mountPath"].lstrip("/")).read_bytes()
    items = pod["volumes"][0]["configMap"]["items"]
    assert sorted(i["key"] for i in items) == sorted(stored) == sorted(m["subPath"] for m in mounts)


def test_only_root_owned_config_files_leave_the_image():
    mounted = {
        m["mountPath"]
        for m in documents(manifests("db"))["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert "/etc/mysql/mariadb.conf.d/60-app.cnf" in mounted and "/etc/app/app.key" in mounted
    assert "/etc/app/tuning.cnf" not in mounted  # owned by mysql: a ConfigMap cannot give it that owner
    assert "/opt/app/schema.sql" not in mounted  # not a config file


def test_redacted_values_go_to_the_secret_and_never_into_the_workload():
    m = manifests("db")
    assert "<redacted:" not in m.files["statefulset.yaml"]
    objects = documents(m)
    secret = objects["Secret"]
    assert secret["stringData"] == {
        "DATABASE_URL": "mysql://app:<redacted:DB_PASSWORD>@127.0.0.1/app",
        "DB_PASSWORD": "<redacted:DB_PASSWORD>",
    }
    env = {e["name"]: e for e in objects["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_NAME"] == {"name": "DB_NAME", "value": "app"}
    for name in ("DB_PASSWORD", "DATABASE_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": name}


def test_stateful_service_gets_a_statefulset_with_a_claim_for_its_data():
    objects = documents(manifests("db"))
    assert "Deployment" not in objects
    spec = objects["StatefulSet"]["spec"]
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = spec["template"]["spec"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/mysql"} in pod["containers"][0]["volumeMounts"]
    seed = pod["initContainers"][0]
    assert seed["volumeMounts"] == [{"name": claim["metadata"]["name"], "mountPath": "/seed"}]
    assert "cp -a /var/lib/mysql/. /seed/" in seed["command"][-1]
    assert spec["serviceName"] == objects["Service"]["metadata"]["name"]


def test_a_stateful_service_the_image_does_not_run_gets_a_clear_note():
    m = manifests("app")
    assert "statefulset.yaml" not in m.files
    note = next(n for n in m.notes if n.startswith("redis-server"))
    assert "stateful" in note and "/var/lib/redis" in note
    assert f"# Note: {note}." in m.files["deployment.yaml"]


def test_non_root_user_is_enforced_when_its_uid_is_known():
    app = documents(manifests("app"))["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert app["securityContext"]["runAsUser"] == 33  # www-data on Debian (base-passwd)
    assert app["securityContext"]["runAsNonRoot"] is True
    db = manifests("db")
    context = documents(db)["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert context == {"allowPrivilegeEscalation": False}  # mysql has no fixed uid: the image's USER applies
    assert any("mysql" in n and "runAsUser" in n for n in db.notes)


def test_dollar_signs_arrive_as_recorded():
    env = documents(manifests("app"))["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    # the session recorded the literal text `prod $HOME`; Kubernetes reads `$$` as one `$`
    assert env == [{"name": "APP_MODE", "value": "prod $$HOME"}]


def test_nodeport_makes_a_nodeport_service():
    service = documents(manifests("web", nodeport=30080))["Service"]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080


@pytest.mark.parametrize("port", [29999, 32768, 80])
def test_nodeport_outside_the_range_is_refused(port):
    with pytest.raises(RecorderError, match=r"node ports must be within 30000-32767"):
        manifests("web", nodeport=port)


def test_session_without_a_service_is_refused():
    session = read.load(CASES["web"])
    session.services = []
    with pytest.raises(RecorderError, match="no service was listening"):
        kubernetes.generate(session, {})


def test_config_keys_are_valid_and_unique():
    taken: set[str] = set()
    keys = [kubernetes.config_key(p, taken) for p in ("/etc/a_b", "/etc/a/b", "/etc/a b/ü.conf", "/")]
    assert keys == ["etc_a_b", "etc_a_b-2", "etc_a_b__.conf", "file"]
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in keys)


def test_values_yaml_1_1_would_misread_stay_strings():
    """`no`, `on`, `0644`, `1:30` are strings to ruamel (YAML 1.2) but a boolean and numbers to kubectl (1.1)."""
    session = read.load(CASES["web"])
    tricky = {"A": "no", "B": "on", "C": "0644", "D": "1:30", "E": "a\r\nb", "F": "  lead\nnext", "G": "~", "H": "1e3"}
    session.steps[5].effects.env_set = dict(tricky)
    session.services[0].command = ["/usr/sbin/nginx", "-x", "no", "on"]
    m = kubernetes.generate(session, captured_configs(session, CASES["web"]))
    for text in m.files.values():
        for doc in yaml.safe_load_all(text):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    container = documents(m)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == tricky
    assert container["command"] == ["/usr/sbin/nginx", "-x", "no", "on"]
