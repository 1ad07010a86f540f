"""What `record minimize`'s decision does to the Dockerfile: installs without recommended packages,
those the deployment needs pinned back by name, nothing else changed; supervisor joins the first apt
layer; the decision reads back from session.yaml as written, and bad decisions are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generators import dockerfile
from recorder.errors import RecorderError
from recorder.model import read, write
from recorder.model import session as s
from tests.tools import hadolint_findings

WEB = Path(__file__).resolve().parents[2] / "sessions" / "web"


def _faithful_web() -> s.Session:
    """The shipped example as recorded, before `record minimize` wrote its decision."""
    session = read.load(WEB)
    session.minimized = []
    return session


def _minimized_web() -> s.Session:
    session = _faithful_web()
    session.minimized = [
        s.Minimized(
            "apt",
            dropped={"libatm1": "1:2.5.1-4+b2", "libpam-cap": "1:2.66-4+deb12u3+b1"},
            kept={"libcap2-bin": "verify failed without it: GET http://localhost:8080/ answered 502"},
        )
    ]
    return session


def _install(text: str) -> str:
    return text[text.index("RUN apt-get update") :].split("\n\n")[0]


def test_a_minimized_manager_installs_without_recommends_and_pins_back_what_it_keeps():
    faithful = dockerfile.render(_faithful_web())
    text = dockerfile.render(_minimized_web())
    install = _install(text)
    assert "apt-get install -y --no-install-recommends \\\n" in install
    assert "      libcap2-bin=1:2.66-4+deb12u3+b1 \\\n      nginx=1.22.1-9+deb12u9 \\\n" in install
    assert "libatm1" not in text and "libpam-cap" not in text  # dropped: never named
    assert "DL3015" not in text and "DL3015" in faithful  # recommends were the reason for the ignore
    assert "apt-get clean" in install and "rm -rf /var/lib/apt/lists/*" in install
    # everything after the install is the same as the faithful image's
    assert text.split(_install(text))[1] == faithful.split(_install(faithful))[1]


def test_a_minimized_dockerfile_is_hadolint_clean_and_deterministic():
    text = dockerfile.render(_minimized_web())
    assert text == dockerfile.render(_minimized_web())
    assert hadolint_findings(text) == ""


def test_a_decision_for_another_manager_changes_nothing():
    session = _faithful_web()
    session.minimized = [s.Minimized("dnf", dropped={"x": "1"})]
    assert dockerfile.render(session) == dockerfile.render(_faithful_web())


def test_dnf_leaves_out_weak_dependencies():
    session = s.Session("db", host=s.Host(os_id="fedora", version_id="39"))
    change = s.PackageChange("dnf", installed={"nginx": "1.24.0-1.fc39"}, dependencies={"nginx-core": "1.24.0-1.fc39"})
    session.steps = [s.Step(1, "dnf install -y nginx", "/", 0, "run", effects=s.Effects(packages=[change]))]
    assert "--setopt=install_weak_deps=False" not in dockerfile.render(session)
    session.minimized = [s.Minimized("dnf")]
    assert "dnf install -y --setopt=install_weak_deps=False \\\n      nginx-1.24.0-1.fc39" in dockerfile.render(session)


def test_supervisor_joins_the_first_apt_layer():
    session = _faithful_web()
    nginx = session.services[0]
    session.services.append(s.Service("api", ["/usr/bin/python3", "-m", "http.server", "9000"], cwd="/srv"))
    text = dockerfile.render(session)
    assert text.count("apt-get update") == 1
    install = _install(text)
    assert "      nginx=1.22.1-9+deb12u9 \\\n      supervisor \\\n" in install
    assert "# hadolint ignore=DL3015,DL3008" in text and "# and supervisor, which runs the services" in text
    assert nginx.name in text
    assert hadolint_findings(text) == ""


def test_the_decision_is_written_into_session_yaml_keeping_a_person_s_comments(tmp_path):
    directory = tmp_path / "web"
    shutil.copytree(WEB, directory)
    yaml_file = directory / s.SESSION_FILE
    yaml_file.write_text(yaml_file.read_text().replace("  - id: 3\n", "  # reviewed by ops\n  - id: 3\n"))
    write.set_minimized(directory, [])
    assert "minimized" not in yaml_file.read_text()
    decision = _minimized_web().minimized
    write.set_minimized(directory, decision)
    text = yaml_file.read_text()
    assert "# reviewed by ops" in text and "Written by `record minimize`" in text
    assert text.index("minimized:") < text.index("warnings:")
    assert read.load(directory).minimized == decision
    write.set_minimized(directory, decision)
    assert yaml_file.read_text() == text  # idempotent: a second run is no diff
    write.set_minimized(directory, [])
    assert read.load(directory).minimized == [] and "# reviewed by ops" in yaml_file.read_text()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("minimized:\n  - manager: pip\n", "minimized[0].manager: `pip` is not one of apt, dnf"),
        ("minimized:\n  - manager: apt\n  - manager: apt\n", "apt is minimized twice"),
        ("minimized:\n  - manager: apt\n    dropped: {'a b': '1'}\n", "is not a package name"),
        ("minimized:\n  - manager: apt\n    dropped: {a: '1'}\n    kept: {a: why}\n", "a is both kept and dropped"),
    ],
)
def test_a_bad_decision_is_one_line_naming_the_file(tmp_path, block, message):
    directory = tmp_path / "web"
    shutil.copytree(WEB, directory)
    write.set_minimized(directory, [])
    yaml_file = directory / s.SESSION_FILE
    yaml_file.write_text(yaml_file.read_text().replace("warnings: []\n", block + "warnings: []\n"))
    with pytest.raises(RecorderError) as caught:
        read.load(directory)
    assert str(yaml_file) in str(caught.value) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_show_and_verify_list_what_is_dropped_and_what_is_kept():
    from recorder.engine.expect import DROPPED, expectations
    from recorder.review import show

    session = _minimized_web()
    d = show.describe(session, WEB)
    assert d["minimized"] == [
        {
            "manager": "apt",
            "option": "--no-install-recommends",
            "dropped": {"libatm1": "1:2.5.1-4+b2", "libpam-cap": "1:2.66-4+deb12u3+b1"},
            "kept": {"libcap2-bin": "verify failed without it: GET http://localhost:8080/ answered 502"},
        }
    ]
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    show.render(d, Console(file=out, width=200))
    assert "2 recommended package(s) left out: libatm1=1:2.5.1-4+b2, libpam-cap=1:2.66-4+deb12u3+b1" in out.getvalue()
    assert "kept though only recommended: libcap2-bin: verify failed without it" in out.getvalue()
    packages = {c.subject: c for c in expectations(session) if c.kind == "package"}
    assert packages["libatm1"].skip == DROPPED and packages["libpam-cap"].skip == DROPPED
    assert not packages["libcap2-bin"].skip and packages["libcap2-bin"].note.startswith("recommended, kept")
    assert not packages["nginx"].skip
