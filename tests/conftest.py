"""Shared fixtures. Docker tests need the engine and base image that scripts/testbench prepares;
when they are missing the tests fail and say so: CI must not pass by skipping them."""

from __future__ import annotations

import signal

import pytest

from tests import staging

# A suite started in the background (`scripts/test &`) inherits SIGINT ignored, and so would every shell
# the tests drive: Ctrl-C would do nothing in them. Children get the default back from here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def docker_client():
    try:
        c = staging.client()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means the bench is not ready
        pytest.fail(f"no Docker engine ({exc}); run scripts/testbench first", pytrace=False)
    try:
        c.images.get(staging.BASE_IMAGE)
    except Exception:  # noqa: BLE001
        pytest.fail(f"base image {staging.BASE_IMAGE} is missing; run scripts/testbench first", pytrace=False)
    return c


@pytest.fixture(scope="session")
def staging_image(docker_client):
    return staging.build_staging_image(docker_client)


@pytest.fixture
def staging_host(docker_client, staging_image):
    host = staging.StagingHost(docker_client)
    yield host
    host.close()


@pytest.fixture
def home(tmp_path):
    """A user whose only rc line is a prompt the tests can wait for (test_recording has a richer one)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("PS1='test$ '\n")
    return home
