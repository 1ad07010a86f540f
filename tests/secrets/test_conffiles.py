"""Precision on a real corpus: the config files Debian ships with the packages of the deployment zoo
are what operators edit and the recorder captures; none of them, as shipped, holds a secret, so none
may be withheld. A false alarm keeps a config file out of the image, and the image then fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.secrets import redact
from tests import staging

pytestmark = pytest.mark.docker

# The bookworm packages the zoo's deployments install (tests/e2e/zoo.yaml), servers and their tools.
PACKAGES = (
    "nginx-common",
    "lighttpd",
    "apache2",
    "memcached",
    "redis-server",
    "redis-tools",
    "uwsgi-core",
    "php8.2-fpm",
    "php8.2-common",
    "dnsmasq-base",
    "postgresql-15",
    "postgresql-common",
    "openssh-server",
    "openssh-client",
    "tinyproxy",
    "webfs",
    "mariadb-server",
    "mariadb-common",
    "mysql-common",
    "supervisor",
    "nodejs",
    "ruby3.1",
)

# In a throwaway container: the packages alone (apt-get download takes no dependencies), and of each
# the files its `conffiles` control entry names, under /out/PACKAGE/, with the entry as /out/PACKAGE.conffiles.
# An entry with a flag (remove-on-upgrade) names a file the package no longer ships.
EXTRACT = """set -eu
apt-get update -qq
mkdir -p /debs /out
cd /debs
apt-get download -qq {packages}
for deb in /debs/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    ctrl=$(mktemp -d)
    dpkg-deb -e "$deb" "$ctrl"
    [ -s "$ctrl/conffiles" ] || continue
    awk 'NF == 1' "$ctrl/conffiles" > "/out/$pkg.conffiles"
    mkdir "/out/$pkg"
    sed 's|^|.|' "/out/$pkg.conffiles" > "$ctrl/members"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "/out/$pkg" -T "$ctrl/members"
done
"""


def shipped_conffiles(client, destination: Path) -> dict[str, list[Path]]:
    """Each package that has conffiles: the regular files among them, as extracted here."""
    container = client.containers.run(
        staging.BASE_IMAGE, ["bash", "-c", EXTRACT.format(packages=" ".join(PACKAGES))], detach=True
    )
    try:
        result = container.wait(timeout=900)
        logs = container.logs().decode("utf-8", "replace")
        assert result["StatusCode"] == 0, f"getting the conffiles failed:\n{logs[-3000:]}"
        out = staging.copy_out(container, "/out", destination)
    finally:
        container.remove(force=True)
    found = {}
    for listing in sorted(out.glob("*.conffiles")):
        package = listing.name.removesuffix(".conffiles")
        paths = [out / package / line.strip().lstrip("/") for line in listing.read_text().splitlines() if line.strip()]
        missing = [str(p) for p in paths if not p.is_symlink() and not p.exists()]
        assert not missing, f"{package}: conffiles not extracted: {missing}"
        found[package] = [p for p in paths if p.is_file() and not p.is_symlink()]
    return found


def test_no_conffile_shipped_with_the_zoo_s_packages_is_taken_for_a_secret(docker_client, tmp_path):
    packages = shipped_conffiles(docker_client, tmp_path)
    flagged = {}
    count = 0
    for package, files in packages.items():
        for path in files:
            count += 1
            # one Redactor per file: each as the first file of its own recording, so one false alarm
            # does not make every later file that holds the same word a false alarm too
            why = redact.Redactor().file_content(path.read_bytes())
            if why:
                flagged[f"{package}:/{path.relative_to(tmp_path / 'out' / package)}"] = why
    print(f"\n{count} conffiles from {len(packages)} packages: {len(flagged)} flagged")
    for name, why in flagged.items():
        print(f"  {name}: {why}")
    assert count >= 100 and len(packages) >= 12, "the corpus is smaller than the zoo's packages ship"
    assert flagged == {}
