"""Host probes on real files: dpkg's status format, the file walk and its ignore list, os-release."""

from __future__ import annotations

import os

from recorder import probes

STATUS = """Package: nginx
Status: install ok installed
Version: 1.22.1-9

Package: old
Status: deinstall ok config-files
Version: 1.0

Package: libfoo
Status: install ok installed
Version: 2.0
"""


def test_dpkg_probe_reads_installed_versions_and_auto_marks(tmp_path):
    status, extended = tmp_path / "status", tmp_path / "extended_states"
    status.write_text(STATUS)
    extended.write_text("Package: libfoo\nArchitecture: amd64\nAuto-Installed: 1\n")
    probe = probes.DpkgProbe(status, extended)
    state = probe.snapshot()
    assert state.versions == {"nginx": "1.22.1-9", "libfoo": "2.0"}
    assert state.auto == {"libfoo"}
    assert probe.snapshot() is state  # unchanged files are not read again
    status.write_text(STATUS + "\nPackage: curl\nStatus: install ok installed\nVersion: 7\n")
    assert probe.snapshot().versions["curl"] == "7"


def test_file_probe_sees_changes_and_ignores_noise(tmp_path):
    root = tmp_path / "etc"
    (root / "app").mkdir(parents=True)
    (root / "app" / "a.conf").write_text("a")
    (root / "hostname").write_text("h")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_text("x")
    probe = probes.FileProbe(roots=(str(root),), ignores=("__pycache__", "*.swp", f"{root}/hostname"))
    before = probe.snapshot()
    assert set(before) == {f"{root}/app", f"{root}/app/a.conf"}
    (root / "app" / "a.conf").write_text("changed, longer")
    (root / "app" / ".a.conf.swp").write_text("editor")
    os.symlink("a.conf", root / "app" / "link")
    (root / "hostname").write_text("other")
    changed, deleted = probes.changed_paths(before, probe.snapshot())
    assert changed == [f"{root}/app/a.conf", f"{root}/app/link"]
    assert deleted == []
    (root / "app" / "a.conf").unlink()
    _, deleted = probes.changed_paths(before, probe.snapshot())
    assert deleted == [f"{root}/app/a.conf"]


def test_base_image_from_os_release(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\n')
    assert probes.base_image_for(probes.os_release(f)) == "centos:7"
    f.write_text("ID=debian\nVERSION_ID=\"12\"\n")
    assert probes.base_image_for(probes.os_release(f)) == "debian:12"
    f.write_text("ID=ubuntu\nVERSION_ID=\"22.04\"\n")
    assert probes.base_image_for(probes.os_release(f)) == "ubuntu:22.04"
    assert probes.base_image_for(probes.os_release(tmp_path / "missing")) == "debian:12"
