"""Package requests parsed from real-world command lines (CentOS 7 and Alpine deployment guides,
Dockerfile RUN lines, shell histories): the managers whose repositories are unreachable here are
tested this way, with golden Dockerfiles for the replay."""

from __future__ import annotations

import pytest

from recorder.managers.base import INSTALL, REFRESH, REMOVE, Request
from recorder.managers.pip import creates_virtualenv
from recorder.managers.registry import parse

CASES = [
    ("yum install -y nginx", [Request("yum", INSTALL, ("nginx",), (), "yum")]),
    (
        "sudo yum --enablerepo=epel install -y nginx php-fpm",
        [Request("yum", INSTALL, ("nginx", "php-fpm"), ("--enablerepo=epel",), "yum")],
    ),
    (
        "yum -y install epel-release && yum -y install redis",
        [Request("yum", INSTALL, ("epel-release",), (), "yum"), Request("yum", INSTALL, ("redis",), (), "yum")],
    ),
    ("yum groupinstall -y 'Development Tools'", [Request("yum", INSTALL, ("@Development Tools",), (), "yum")]),
    ("dnf -y module install nodejs:18", []),
    (
        "dnf install -y --setopt=install_weak_deps=False httpd mod_ssl",
        [Request("dnf", INSTALL, ("httpd", "mod_ssl"), ("--setopt=install_weak_deps=False",), "dnf")],
    ),
    ("yum clean all", []),
    ("yum makecache fast", [Request("yum", REFRESH, ("fast",), (), "yum")]),
    (
        "rpm -ivh https://dl.fedoraproject.org/pub/epel/epel-release-latest-7.noarch.rpm",
        [
            Request(
                "rpm", INSTALL, ("https://dl.fedoraproject.org/pub/epel/epel-release-latest-7.noarch.rpm",), (), "rpm"
            )
        ],
    ),
    ("rpm -e --nodeps postfix", [Request("rpm", REMOVE, ("postfix",), (), "rpm")]),
    ("apk add --no-cache nginx=1.24.0-r7 curl", [Request("apk", INSTALL, ("nginx", "curl"), (), "apk")]),
    (
        "apk add -X http://dl-cdn.alpinelinux.org/alpine/edge/testing gosu",
        [Request("apk", INSTALL, ("gosu",), ("-X", "http://dl-cdn.alpinelinux.org/alpine/edge/testing"), "apk")],
    ),
    ("apk del .build-deps", [Request("apk", REMOVE, (".build-deps",), (), "apk")]),
    (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx=1.22.1-9 curl",
        [Request("apt", INSTALL, ("nginx", "curl"), ("--no-install-recommends",), "apt-get")],
    ),
    (
        "sudo -E apt -y install -t bookworm-backports golang",
        [Request("apt", INSTALL, ("golang",), ("-t", "bookworm-backports"), "apt")],
    ),
    (
        "apt-get update && apt-get purge -y exim4",
        [Request("apt", REFRESH, (), (), "apt-get"), Request("apt", REMOVE, ("exim4",), (), "apt-get")],
    ),
    ("dpkg -i /tmp/app_1.0_amd64.deb", [Request("dpkg", INSTALL, ("/tmp/app_1.0_amd64.deb",), (), "dpkg")]),
    (
        "pip install flask==3.0.3 'gunicorn>=21' requests[socks]",
        [Request("pip", INSTALL, ("flask", "gunicorn", "requests"), (), "pip")],
    ),
    (
        "/opt/app/venv/bin/pip install --no-cache-dir -i https://pypi.example.org/simple Django",
        [Request("pip", INSTALL, ("Django",), ("-i", "https://pypi.example.org/simple"), "/opt/app/venv/bin/pip")],
    ),
    (
        "python3 -m pip install --user --break-system-packages httpie",
        [Request("pip", INSTALL, ("httpie",), ("--user", "--break-system-packages"), "python3 -m pip", "user")],
    ),
    ("pip3 install -r requirements.txt", [Request("pip", INSTALL, (), (), "pip3")]),
    ("npm install -g pm2@5.3.0 @vue/cli", [Request("npm", INSTALL, ("pm2", "@vue/cli"), (), "npm", "global")]),
    (
        "cd /srv/app && npm i express --registry=https://registry.example.org",
        [Request("npm", INSTALL, ("express",), ("--registry=https://registry.example.org",), "npm", "project")],
    ),
    ("gem install bundler -v 2.4.22 --no-document", [Request("gem", INSTALL, ("bundler",), (), "gem")]),
    ("ls -la /etc && echo 'apt-get install -y nginx'", []),
    ("echo 'unclosed", []),
]


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c for c, _ in CASES])
def test_requests_from_real_command_lines(command, expected):
    assert parse(command) == expected


def test_requirements_file_is_remembered():
    (request,) = parse("pip3 install -r /srv/app/requirements.txt")
    assert request.extra == {"requirements": "/srv/app/requirements.txt"}


def test_virtualenv_creation_is_recognised():
    assert creates_virtualenv("python3 -m venv /opt/app/venv") == "/opt/app/venv"
    assert creates_virtualenv("cd /opt && virtualenv -p python3 env") == "env"
    assert creates_virtualenv("python3 -m pip install venv") is None


def test_pip_and_npm_installs_are_read_from_the_paths_they_wrote(tmp_path):
    from recorder.managers.npm import installs as npm_installs
    from recorder.managers.pip import installs as pip_installs
    from recorder.managers.pip import virtualenv_of

    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "Flask-3.0.3.dist-info").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    paths = [
        f"{site}/Flask-3.0.3.dist-info/RECORD",
        f"{site}/flask/app.py",
        f"{site}/typing_extensions-4.12.2.dist-info/METADATA",
    ]
    assert pip_installs(paths) == {str(site): {"Flask": "3.0.3", "typing_extensions": "4.12.2"}}
    assert virtualenv_of(str(site)) == str(venv)
    assert virtualenv_of("/usr/local/lib/python3.11/dist-packages") == ""

    project = tmp_path / "app"
    for name, version in (("express", "4.19.2"), ("@types/node", "20.1.0"), ("express/node_modules/qs", "6.0")):
        pkg = project / "node_modules" / name
        pkg.mkdir(parents=True)
        (pkg / "package.json").write_text(f'{{"name": "{name}", "version": "{version}"}}')
    paths = [str(p) for p in project.rglob("package.json")]
    assert npm_installs(paths) == {str(project): {"express": "4.19.2", "@types/node": "20.1.0"}}


# One typed install per manager, the change it would record, and what its replay must say.
TYPED = [
    ("apt-get install -y nginx", "apt", {"nginx": "1.22.1-9"}, "apt-get install -y", "nginx=1.22.1-9"),
    ("yum install -y --enablerepo=epel nginx", "yum", {"nginx": "1.20.1"}, "yum install -y", "nginx-1.20.1"),
    ("dnf install -y nginx", "dnf", {"nginx": "1.20.1"}, "dnf install -y", "nginx-1.20.1"),
    ("apk add redis", "apk", {"redis": "7.2.4-r0"}, "apk add --no-cache", "redis=7.2.4-r0"),
    ("/opt/venv/bin/pip install flask", "pip", {"flask": "3.0.3"}, "/opt/venv/bin/pip install", "flask==3.0.3"),
    ("npm install express", "npm", {"express": "4.19.2"}, "npm install", "express@4.19.2"),
    ("gem install rack", "gem", {"rack": "3.0.9"}, "gem install --no-document", "rack:3.0.9"),
]


@pytest.mark.parametrize("typed, manager, installed, command, pin", TYPED, ids=[t[1] for t in TYPED])
def test_each_manager_reads_its_command_line_and_replays_what_it_installed(typed, manager, installed, command, pin):
    from recorder.managers import registry
    from recorder.model.session import PackageChange

    (request,) = parse(typed)
    assert request.manager == manager and request.action == INSTALL
    target = "/opt/venv" if manager == "pip" else "/srv/app" if manager == "npm" else ""
    change = PackageChange(manager=manager, installed=installed, options=list(request.options), target=target)
    text = "\n".join(registry.install(change))
    assert command in text and pin in text
    assert all(o in text for o in request.options)  # e.g. yum's --enablerepo=epel
    assert pin not in "\n".join(registry.install(change, relaxed=True))


def test_every_manager_is_in_the_registry_with_what_the_rest_of_the_code_asks_of_it():
    from recorder.managers import registry

    assert {m for _, m, *_ in TYPED} <= set(registry.REPLAYS)
    for manager in registry.MANAGERS:
        assert manager.replays and manager.config_paths, manager
        for path in manager.config_paths:
            assert registry.configures(path + ("x.conf" if path.endswith("/") else ""))
    assert not registry.configures("/etc/nginx/nginx.conf")
    assert "apt-get install" in "\n".join(registry.install_unpinned("debian", ["supervisor"]))
    assert "yum install -y supervisor" in "\n".join(registry.install_unpinned("centos", ["supervisor"]))
    assert "apk add --no-cache supervisor" in "\n".join(registry.install_unpinned("alpine", ["supervisor"]))
    from recorder.model.session import PackageChange

    unknown = registry.install(PackageChange(manager="conda", installed={"numpy": "1.26"}))
    assert unknown == ["# packages from `conda` are not replayed: numpy"]
