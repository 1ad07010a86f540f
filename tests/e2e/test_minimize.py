"""`record minimize` against the real engine: the smaller image is used only when verify passes on it.

The shipped nginx session (installed with recommends) becomes smaller and still verifies; a lighttpd
deployment that enabled mod_deflate, which only a recommended package ships, keeps that package back
(the variant without it fails verify and is not used) and drops the rest."""

from __future__ import annotations

import contextlib
import re
import shutil

import pytest

from generators import dockerfile
from recorder.model import read, write
from tests import staging
from tests.cli import record

pytestmark = pytest.mark.docker

SIZES = re.compile(r"as recorded: ([0-9.]+) MB, verify passed\nchosen: ([0-9.]+) MB")


def _repo(name: str) -> str:
    return f"record-test-minimize-{name}-{staging.CHECKOUT}"


def _minimize_then_build_and_verify(docker_client, session_dir, name):
    repo = _repo(name)
    try:
        done = record("minimize", str(session_dir), "--base", staging.BASE_IMAGE, "--repo", repo)
        assert done.returncode == 0, done.stderr[-3000:]
        sizes = SIZES.search(done.stderr)
        assert sizes, done.stderr[-3000:]
        recorded, chosen = (float(x) for x in sizes.groups())
        assert chosen < recorded, done.stderr
        # what was written is what the chosen image was: the Dockerfile is up to date, and it builds an
        # image that verifies, the size of the chosen one
        assert record("check", str(session_dir)).returncode == 0
        tag = staging.tag(f"minimized-{name}")
        built = record("build", str(session_dir), "--tag", tag, "--base", staging.BASE_IMAGE, "--verify")
        assert built.returncode == 0, built.stderr[-3000:] + built.stdout
        assert "0 mismatched" in built.stdout
        assert abs(docker_client.images.get(tag).attrs["Size"] / 1e6 - chosen) < 0.2
        docker_client.images.remove(tag, force=True)
        return done.stderr
    finally:
        for suffix in ("minimized", "recorded"):
            with contextlib.suppress(Exception):  # not made when the run failed early
                docker_client.images.remove(f"{repo}:{suffix}", force=True)


def test_the_nginx_session_installed_with_recommends_minimizes_to_a_smaller_image_that_verifies(
    docker_client, tmp_path
):
    session_dir = tmp_path / "web"
    shutil.copytree(staging.ROOT / "sessions" / "web", session_dir)
    write.set_minimized(session_dir, [])  # as recorded: `apt-get install -y nginx`, recommends and all
    (session_dir / "Dockerfile").write_text(dockerfile.render(read.load(session_dir)))
    assert "# hadolint ignore=DL3015" in (session_dir / "Dockerfile").read_text()

    log = _minimize_then_build_and_verify(docker_client, session_dir, "web")

    session = read.load(session_dir)
    assert [m.manager for m in session.minimized] == ["apt"]
    assert set(session.minimized[0].dropped) == {"libatm1", "libpam-cap"} and session.minimized[0].kept == {}
    assert "apt-get install -y --no-install-recommends" in (session_dir / "Dockerfile").read_text()
    assert "apt: left out 2: libatm1, libpam-cap" in log


def test_a_recommended_package_the_service_needs_is_kept_and_the_failing_variant_is_not_used(
    docker_client, staging_image, tmp_path
):
    entry = next(e for e in staging.zoo() if e["name"] == "lighttpd-deflate")
    session_dir = staging.record_deployment(docker_client, entry, tmp_path)
    recorded = read.load(session_dir)
    deps = {n for st in recorded.steps for p in st.effects.packages for n in p.dependencies}
    assert {"lighttpd-mod-deflate", "spawn-fcgi"} <= deps  # installed with recommends on staging

    log = _minimize_then_build_and_verify(docker_client, session_dir, "lighttpd")

    # the variant without any recommended package was built and failed verify: it was not used
    assert re.search(r"apt without recommends: .*(verify failed|the build failed)", log), log
    decision = read.load(session_dir).minimized[0]
    assert list(decision.kept) == ["lighttpd-mod-deflate"]
    assert decision.kept["lighttpd-mod-deflate"].startswith("verify failed without it: ")
    assert "spawn-fcgi" in decision.dropped and "lighttpd-mod-deflate" not in decision.dropped
    text = (session_dir / "Dockerfile").read_text()
    assert "--no-install-recommends" in text and "lighttpd-mod-deflate=" in text and "spawn-fcgi" not in text
