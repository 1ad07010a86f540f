"""The fingerprint of what staging served: URLs read from real command lines, and real servers asked."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from recorder.capture import fingerprint as fp
from recorder.model import read, write
from recorder.model import session as s


@pytest.mark.parametrize(
    ("command", "urls"),
    [
        ("curl localhost:8080", ["http://localhost:8080/"]),
        ("curl localhost", ["http://localhost/"]),
        ("curl -s http://localhost:8080/index.html", ["http://localhost:8080/index.html"]),
        (
            "curl -fsS -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8080/health?x=1#top'",
            ["http://127.0.0.1:8080/health?x=1"],
        ),
        ("wget -qO- http://localhost/", ["http://localhost/"]),
        ("wget -O /tmp/page http://[::1]:8080/v6", ["http://[::1]:8080/v6"]),
        ("sudo -u www-data curl http://localhost:9000/x | grep ok", ["http://localhost:9000/x"]),
        ("echo $(curl -s localhost:8080/z) && curl localhost:8080/z", ["http://localhost:8080/z"]),
        ("curl -s http://stage1:8080/a http://localhost:8080/b", ["http://stage1:8080/a", "http://localhost:8080/b"]),
        # never re-sent: not a GET, not this host, not http, or not what the shell actually fetched
        ("curl -X POST http://localhost:8080/api", []),
        ("curl -XDELETE localhost:8080/item/1", []),
        ("curl -d a=b localhost:8080/api", []),
        ("curl --data-binary @f localhost:8080/api", []),
        ("wget --post-data=x http://localhost/", []),
        ("curl https://deb.example.org/key | apt-key add -", []),
        ("curl -x http://localhost:3128 http://example.com/", []),
        ("curl https://localhost:8443/", []),
        ("for i in 1 2; do curl -s localhost:8080/$i; done", []),
        ("grep curl localhost:80/x", []),
        ("curl 'unclosed", []),
    ],
)
def test_urls_fetched_with_curl_or_wget(command, urls):
    assert fp.fetched_urls(command, frozenset({"stage1"})) == urls


class _Site(http.server.BaseHTTPRequestHandler):
    pages = {"/": b"<h1>home</h1>\n", "/page": b"a page\n"}
    seen: list[tuple[str, str, str]] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).seen.append(("GET", self.path, self.headers.get("Host", "")))
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def do_POST(self):  # noqa: N802
        type(self).seen.append(("POST", self.path, ""))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    _Site.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accepts_tells_a_server_from_a_closed_port_and_from_a_forwarder_with_nothing_behind(site):
    assert fp.accepts("127.0.0.1", site)
    assert not fp.accepts("127.0.0.1", _free_port())
    # what docker-proxy does when nothing listens in the container: accept, then hang up at once
    hangup = socket.socket()
    hangup.bind(("127.0.0.1", 0))
    hangup.listen()

    def serve():
        conn, _ = hangup.accept()
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert not fp.accepts("127.0.0.1", hangup.getsockname()[1])
    finally:
        thread.join(5)
        hangup.close()


def test_fetch_asks_with_the_recorded_host_header_and_hashes_the_body(site):
    answer = fp.fetch("http://localhost:8080/page", "127.0.0.1", site)
    assert answer == fp.Answer(200, hashlib.sha256(b"a page\n").hexdigest(), 7)
    assert _Site.seen == [("GET", "/page", "localhost:8080")]
    assert fp.fetch("http://localhost:8080/", "127.0.0.1", _free_port()) is None


def test_take_asks_each_service_port_and_each_url_fetched_in_the_session(site):
    port = site
    session = s.Session(
        name="t",
        steps=[
            s.Step(id=1, command=f"curl -s localhost:{port}/page", cwd="/", exit=0),
            s.Step(id=2, command=f"curl -X POST localhost:{port}/api", cwd="/", exit=0),
            s.Step(id=3, command="curl -s localhost:1/elsewhere", cwd="/", exit=7),
        ],
        services=[
            s.Service(name="site", command=["site"], ports=[s.Port(port, "0.0.0.0"), s.Port(port, "::")]),
            s.Service(name="gone", command=["gone"], ports=[s.Port(_free_port(), "127.0.0.1")]),
        ],
    )
    got = fp.take(session)
    assert [(p.port, p.accepts) for p in got.ports] == sorted(
        [(port, True), (session.services[1].ports[0].port, False)]
    )
    assert [(h.url, h.status, h.step) for h in got.http] == [
        (f"http://localhost:{port}/", 200, 0),
        (f"http://localhost:{port}/page", 200, 1),
    ]
    assert got.http[0].sha256 == hashlib.sha256(_Site.pages["/"]).hexdigest()
    assert ("POST", "/api", "") not in _Site.seen  # a POST typed by the operator is never repeated


def test_fingerprint_round_trips_in_a_stable_order(tmp_path):
    digest = hashlib.sha256(b"x").hexdigest()
    session = s.Session(
        name="t",
        steps=[s.Step(id=1, command="curl localhost:81/b", cwd="/", exit=0)],
        fingerprint=s.Fingerprint(
            ports=[s.PortCheck(81), s.PortCheck(80, accepts=False)],
            http=[
                s.HttpCheck("http://localhost:81/b", 200, digest, 1, step=1),
                s.HttpCheck("http://localhost:81/", 404, digest, 0),
            ],
        ),
    )
    text = write.to_yaml_text(session)
    assert text.index("port: 80") < text.index("port: 81")
    assert text.index("url: http://localhost:81/\n") < text.index("url: http://localhost:81/b")
    loaded = read.from_yaml_text(text, Path("session.yaml"))
    assert loaded.fingerprint == s.Fingerprint(
        ports=[s.PortCheck(80, accepts=False), s.PortCheck(81)],
        http=[
            s.HttpCheck("http://localhost:81/", 404, digest, 0),
            s.HttpCheck("http://localhost:81/b", 200, digest, 1, 1),
        ],
    )
    assert write.to_yaml_text(loaded) == text
    assert read.from_yaml_text(text.replace("fingerprint:", "old:"), Path("x")).fingerprint is None


def test_a_port_is_asked_where_its_listener_can_answer_best_first():
    assert fp.probe_addresses(["0.0.0.0", "::"]) == ["127.0.0.1", "::1", "0.0.0.0", "::"]
    # a dual-stack socket on :: takes IPv4 too, and a container's loopback often has no ::1
    assert fp.probe_addresses(["::"]) == ["::1", "127.0.0.1", "::"]
    assert fp.probe_addresses(["::1"]) == ["::1"]
    assert fp.probe_addresses(["10.0.0.5"]) == ["10.0.0.5"]
