"""Host probes on real files: dpkg's status format, the file walk and its ignore list, os-release."""

from __future__ import annotations

import os
import shutil
import time

from recorder.capture import probes
from recorder.capture.filewatch import SLACK_NS, FileWatcher, SystemDirs

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


def _tree(tmp_path):
    root = tmp_path / "etc"
    (root / "app").mkdir(parents=True)
    (root / "app" / "a.conf").write_text("a")
    (root / "hostname").write_text("h")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_text("x")
    return root, probes.FileProbe(roots=(str(root),), ignores=("__pycache__", "*.swp", f"{root}/hostname"))


def test_file_probe_walk_skips_ignored_paths(tmp_path):
    root, probe = _tree(tmp_path)
    assert set(probe.snapshot()) == {f"{root}/app", f"{root}/app/a.conf"}


def test_a_package_managers_cache_is_not_the_deployment(tmp_path):
    """`npm install` as a user leaves ~/.npm/_cacache (and its logs, which look like secrets to a
    scanner); the project's node_modules and package.json are what was deployed."""
    home, project = tmp_path / "home" / "app", tmp_path / "home" / "app" / "srv"
    for cached in (home / ".npm" / "_cacache" / "index-v5" / "ab", home / ".npm" / "_logs", home / ".gem" / "specs"):
        cached.mkdir(parents=True)
        (cached / "entry").write_text("cached")
    (project / "node_modules" / "express").mkdir(parents=True)
    (project / "node_modules" / "express" / "package.json").write_text('{"version": "4.19.2"}')
    (project / "package.json").write_text("{}")
    seen = probes.FileProbe(roots=(str(tmp_path / "home"),)).snapshot()  # the default ignores
    assert f"{project}/node_modules/express/package.json" in seen and f"{project}/package.json" in seen
    assert not [p for p in seen if "/.npm" in p or "/.gem/specs" in p]


def test_file_watcher_reports_exactly_what_changed(tmp_path):
    root, probe = _tree(tmp_path)
    watcher = FileWatcher(probe)
    assert watcher.changes() == ({}, [])
    (root / "app" / "a.conf").write_text("changed, longer")
    (root / "app" / ".a.conf.swp").write_text("editor")
    os.symlink("a.conf", root / "app" / "link")
    (root / "hostname").write_text("other")
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "f").write_text("made with mkdir -p")
    changed, deleted = watcher.changes()
    new = [f"{root}/new", f"{root}/new/deep"]  # new directories are changes of their own
    assert sorted(changed) == [f"{root}/app/a.conf", f"{root}/app/link", *new, f"{root}/new/deep/f"]
    assert changed[f"{root}/app/link"].target == "a.conf"
    assert deleted == []
    (root / "new" / "deep" / "g").write_text("a watch was added for the new directory")
    (root / "app" / "a.conf").unlink()
    changed, deleted = watcher.changes()
    assert list(changed) == [f"{root}/new/deep/g"] and deleted == [f"{root}/app/a.conf"]
    shutil.rmtree(root / "new")
    gone = [f"{root}/new", f"{root}/new/deep", f"{root}/new/deep/f", f"{root}/new/deep/g"]
    assert watcher.changes() == ({}, gone)
    watcher.close()


def test_file_watcher_follows_a_root_created_later(tmp_path):
    root = tmp_path / "var" / "www"
    watcher = FileWatcher(probes.FileProbe(roots=(str(root),), ignores=()))
    (root / "html").mkdir(parents=True)  # as apt-get install nginx does
    (root / "html" / "index.html").write_text("package page")
    assert list(watcher.changes()[0]) == [str(root), f"{root}/html", f"{root}/html/index.html"]
    (root / "html" / "index.html").write_text("<h1>mine</h1>")
    assert list(watcher.changes()[0]) == [f"{root}/html/index.html"]
    watcher.close()


def test_a_directory_is_a_change_when_it_is_new_or_its_mode_or_owner_changed(tmp_path):
    """`mkdir -p /var/log/app` (empty: a service needs it), `chmod 750`, `chown`: each is what the step
    did; a directory that only gained a file is not (the file is)."""
    root, probe = _tree(tmp_path)
    watcher = FileWatcher(probe)
    (root / "log" / "app").mkdir(parents=True)
    changed, _ = watcher.changes()
    assert {p: e.kind for p, e in changed.items()} == {f"{root}/log": "dir", f"{root}/log/app": "dir"}
    (root / "app").chmod(0o750)
    os.chown(root / "log" / "app", 1, 1)
    (root / "app" / "new.conf").write_text("n")
    changed, _ = watcher.changes()
    assert sorted(changed) == [f"{root}/app", f"{root}/app/new.conf", f"{root}/log/app"]
    assert changed[f"{root}/app"].mode == 0o750 and changed[f"{root}/log/app"].uid == 1
    (root / "app" / "other.conf").write_text("o")  # the directory's mtime changes, nothing else
    assert list(watcher.changes()[0]) == [f"{root}/app/other.conf"]
    time.sleep(2 * SLACK_NS / 1e9)  # the walk below trusts ctimes after the last look, with this much slack
    (root / "log" / "app").rmdir()
    assert watcher.changes() == ({}, [f"{root}/log/app"])
    watcher.complete = False  # the walk after lost events compares directories the same way
    (root / "app").chmod(0o700)
    (root / "app" / "third.conf").write_text("t")
    assert sorted(watcher.changes()[0]) == [f"{root}/app", f"{root}/app/third.conf"]
    watcher.close()


def test_file_watcher_falls_back_to_a_walk_when_events_are_lost(tmp_path):
    root, probe = _tree(tmp_path)
    watcher = FileWatcher(probe)
    watcher.complete = False  # as when inotify ran out of watches or its queue overflowed
    (root / "app" / "b.conf").write_text("b")
    (root / "app" / "a.conf").unlink()
    changed, deleted = watcher.changes()
    assert list(changed) == [f"{root}/app/b.conf"] and deleted == [f"{root}/app/a.conf"]
    assert watcher.walks == 1
    watcher.close()


def test_base_image_from_os_release(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\n')
    assert probes.base_image_for(probes.os_release(f)) == "centos:7"
    f.write_text('ID=debian\nVERSION_ID="12"\n')
    assert probes.base_image_for(probes.os_release(f)) == "debian:12"
    f.write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
    assert probes.base_image_for(probes.os_release(f)) == "ubuntu:22.04"
    assert probes.base_image_for(probes.os_release(tmp_path / "missing")) == "debian:12"


def test_listening_ports_from_proc_net(tmp_path):
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "tcp").write_text(
        header
        + "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
        + "   1: 0100007F:0CEA 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    )
    (tmp_path / "tcp6").write_text(
        header + "   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 0 0 0 0 0 3\n"
    )
    assert probes.listening_ports(tmp_path) == {8080, 6379}


def test_port_probe_sees_a_new_listener():
    import socket

    probe = probes.PortProbe()
    before = probe.ports()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port not in before
        assert port in probe.ports()
        assert port in probes.listening_ports()  # the fallback agrees
    assert port not in probe.ports()
    assert probe.via_netlink  # the answer came from sock_diag, not from the /proc/net fallback
    probe.close()


def test_port_probe_reads_answers_that_span_several_netlink_messages():
    """Hundreds of listeners, IPv4 and IPv6: the dump comes in several datagrams, all of them read."""
    import contextlib
    import socket

    probe = probes.PortProbe()
    with contextlib.ExitStack() as stack:
        opened = set()
        for family, address in [(socket.AF_INET, "127.0.0.1")] * 300 + [(socket.AF_INET6, "::1")] * 100:
            server = stack.enter_context(socket.socket(family))
            server.bind((address, 0))
            server.listen()
            opened.add(server.getsockname()[1])
        found = probe.ports()
        assert opened <= found
        assert opened <= probes.listening_ports()  # the fallback agrees
    assert probe.via_netlink
    probe.close()


def test_a_file_equal_to_what_its_package_shipped_is_recognised(tmp_path):
    import hashlib

    info = tmp_path / "dpkg" / "info"
    info.mkdir(parents=True)
    conf = tmp_path / "etc" / "app.conf"
    conf.parent.mkdir()
    conf.write_text("shipped\n")
    (info / "app.list").write_text(f"{conf}\n")
    (info / "app.md5sums").write_text(f"{hashlib.md5(b'shipped' + bytes([10])).hexdigest()}  {str(conf)[1:]}\n")
    (tmp_path / "dpkg" / "status").write_text("Package: app\nStatus: install ok installed\nVersion: 1\n")
    owners = probes.DpkgOwners(info)
    assert owners.owner(str(conf)) == "app"
    assert owners.unchanged_from_package(str(conf))
    conf.write_text("edited\n")
    assert not owners.unchanged_from_package(str(conf))
    assert not owners.unchanged_from_package(str(tmp_path / "unowned"))


def test_conffile_checksums_come_from_the_status_file(tmp_path):
    import hashlib

    info = tmp_path / "dpkg" / "info"
    info.mkdir(parents=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text("user www-data;\n")
    (info / "nginx-common.list").write_text(f"{conf}\n")
    digest = hashlib.md5(conf.read_bytes()).hexdigest()
    (tmp_path / "dpkg" / "status").write_text(
        f"Package: nginx-common\nStatus: install ok installed\nConffiles:\n {conf} {digest}\nVersion: 1\n"
    )
    assert probes.DpkgOwners(info).unchanged_from_package(str(conf))


def test_user_ignore_patterns_use_gitignore_syntax(tmp_path):
    (tmp_path / ".recordignore").write_text("# caches of our app\n*.tmp\n/etc/app/cache/\n")
    patterns = probes.read_ignore_file(tmp_path / ".recordignore")
    assert patterns == ("*.tmp", "/etc/app/cache/")
    probe = probes.FileProbe(roots=("/etc",), ignores=(), user_ignores=patterns)
    assert probe.ignored("/etc/app/cache/x.db") and probe.ignored("/opt/a/b.tmp")
    assert not probe.ignored("/etc/app/app.conf")
    assert probes.read_ignore_file(tmp_path / "missing") == ()


def test_directories_a_step_makes_or_remodes_outside_the_watched_roots_are_its_changes(tmp_path):
    """`mkdir -p /var/log/supervisor`, `chmod 750 /var/lib/app`: below the levels looked at and in the
    package managers' own directories nothing is reported; files there never are."""
    var_log, var_lib = tmp_path / "log", tmp_path / "lib"
    (var_lib / "app").mkdir(parents=True)
    var_log.mkdir()
    dirs = SystemDirs({str(var_log): 2, str(var_lib): 2}, ignored=lambda path: path.endswith("/ignored"))
    assert dirs.changes() == {}
    (var_log / "supervisor" / "a" / "b").mkdir(parents=True)  # b: one level further than is looked at
    (var_log / "ignored").mkdir()
    (var_log / "app.log").write_text("a file: the service's, not the deployment\n")
    (var_lib / "app").chmod(0o750)
    changed = dirs.changes()
    assert sorted(changed) == [str(var_lib / "app"), str(var_log / "supervisor"), str(var_log / "supervisor" / "a")]
    assert changed[str(var_lib / "app")].kind == "dir" and changed[str(var_lib / "app")].mode == 0o750
    assert dirs.changes() == {}  # each change is reported once


def test_system_directories_are_walked_again_only_when_a_directory_changed(tmp_path):
    """A pid file or a log line in /run or /var/log is no reason to walk them; a directory made,
    re-moded (the deepest level looked at too), removed or made again is."""
    run = tmp_path / "run"
    (run / "app" / "deep").mkdir(parents=True)
    dirs = SystemDirs({str(run): 2})
    walks = dirs.walks
    (run / "app.pid").write_text("42\n")
    (run / "app" / "socket").write_text("")
    assert dirs.changes() == {} and dirs.walks == walks
    (run / "app" / "deep").chmod(0o700)
    assert list(dirs.changes()) == [str(run / "app" / "deep")] and dirs.walks == walks + 1
    (run / "app" / "deep").rmdir()
    (run / "app" / "socket").unlink()
    (run / "app").rmdir()
    assert dirs.changes() == {}  # gone is not a change to make in the image
    (run / "app").mkdir(mode=0o750)
    assert list(dirs.changes()) == [str(run / "app")]
    (run / "app" / "new").mkdir()  # below a directory made after the start: watched too
    assert list(dirs.changes()) == [str(run / "app" / "new")]
    dirs.close()
