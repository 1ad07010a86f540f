"""What the staging host served when the recording ended, asked the same way `record verify` asks the image.

For each port the session's services listened on: does it accept a TCP connection; for HTTP ports,
the status and a sha256 of the body of `GET /` and of every local URL the operator fetched with
curl or wget during the session (read from the recorded commands, never re-sent unless it was a GET).
Only this host's own addresses are asked.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from recorder.capture.classify import command_words
from recorder.model.session import Fingerprint, HttpCheck, PortCheck, Service, Session

CONNECT_TIMEOUT = 2.0
# A server waits for the client to speak; a port forwarder with nothing behind it (docker-proxy)
# accepts and hangs up at once. Waiting this long for that hang-up tells the two apart.
SETTLE = 0.3
HTTP_TIMEOUT = 10.0
USER_AGENT = "record-fingerprint/1"

# Prefixes that run the next word as the command.
WRAPPERS = frozenset({"sudo", "env", "time", "command", "nice", "nohup", "timeout"})
CURL_VALUE = frozenset("AbcCdDeEFHKmoPrTuUwxXyYzQ")
CURL_NOT_GET = frozenset("dFT")
CURL_LONG_VALUE = frozenset(
    {
        "--url",
        "--proxy",
        "--preproxy",
        "--referer",
        "--output",
        "--header",
        "--request",
        "--user",
        "--user-agent",
        "--write-out",
        "--max-time",
        "--connect-timeout",
        "--cookie",
        "--cookie-jar",
        "--data",
        "--data-raw",
        "--data-binary",
        "--data-urlencode",
        "--data-ascii",
        "--form",
        "--json",
        "--upload-file",
        "--resolve",
        "--connect-to",
        "--cacert",
        "--cert",
        "--key",
        "--retry",
        "--range",
        "--interface",
        "--dump-header",
        "--config",
        "--oauth2-bearer",
        "--unix-socket",
        "--noproxy",
    }
)
CURL_LONG_NOT_GET = frozenset(
    {"--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii", "--form", "--json", "--upload-file"}
)
WGET_VALUE = frozenset("OoaeUPtTwQiBY")
WGET_LONG_NOT_GET = frozenset({"--post-data", "--post-file", "--body-data", "--body-file"})


@dataclass(frozen=True)
class Answer:
    status: int
    sha256: str
    size: int


# ---------------------------------------------------------------- probes (also used by verify)


def accepts(host: str, port: int, connect_timeout: float = CONNECT_TIMEOUT) -> bool:
    """True when something accepts a TCP connection on host:port and does not hang up at once."""
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except OSError:
        return False
    with sock:
        sock.settimeout(SETTLE)
        try:
            return sock.recv(1) != b""  # a banner: something is there
        except TimeoutError:
            return True  # waiting for us to speak, as servers do
        except OSError:
            return False


def fetch(url: str, host: str, port: int, timeout: float = HTTP_TIMEOUT) -> Answer | None:
    """GET `url`, connecting to host:port instead of the URL's own address; None when no HTTP answer came."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", "*/*")
        conn.putheader("Connection", "close")
        conn.endheaders()
        response = conn.getresponse()
        digest, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
        return Answer(response.status, digest.hexdigest(), size)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------- URLs the operator fetched


def _is_local(host: str, own_names: frozenset[str]) -> bool:
    if host.lower() in own_names or host.lower() in ("localhost", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _normalise(word: str, own_names: frozenset[str]) -> str | None:
    """An http URL on this host, with the scheme curl and wget assume when it is left out."""
    if "$" in word or "`" in word:
        return None  # the shell filled it in; what it became was not recorded
    text = word if "://" in word else f"http://{word}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if parts.scheme != "http" or not parts.hostname or not _is_local(parts.hostname, own_names):
        return None
    return urlunsplit(("http", parts.netloc, parts.path or "/", parts.query, ""))


def _curl_urls(args: list[str]) -> tuple[list[str], bool]:
    urls, get, i = [], True, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            takes = name in CURL_LONG_VALUE
            if not eq and takes:
                i += 1
                value = args[i] if i < len(args) else ""
            if name in CURL_LONG_NOT_GET or (name == "--request" and value.upper() != "GET"):
                get = False
            if name == "--url":
                urls.append(value)
        elif a.startswith("-") and len(a) > 1:
            for j, ch in enumerate(a[1:], start=1):
                if ch in CURL_VALUE:
                    value = a[j + 1 :]
                    if not value:
                        i += 1
                        value = args[i] if i < len(args) else ""
                    if ch in CURL_NOT_GET or (ch == "X" and value.upper() != "GET"):
                        get = False
                    break
        else:
            urls.append(a)
        i += 1
    return urls, get


def _wget_urls(args: list[str]) -> tuple[list[str], bool]:
    urls, get, i = [], True, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, _, value = a.partition("=")
            if name in WGET_LONG_NOT_GET or (name == "--method" and value.upper() != "GET"):
                get = False
        elif a.startswith("-") and len(a) > 1:
            if a[-1] in WGET_VALUE:
                i += 1
        else:
            urls.append(a)
        i += 1
    return urls, get


def fetched_urls(command: str, own_names: frozenset[str] = frozenset()) -> list[str]:
    """Local http URLs that a command line GETs with curl or wget, in the order they appear."""
    found: list[str] = []
    for words in command_words(command):
        heads = [w.rsplit("/", 1)[-1] for w in words]
        first = next((i for i, h in enumerate(heads) if h in ("curl", "wget")), None)
        if first is None or (first > 0 and heads[0] not in WRAPPERS and "=" not in words[0]):
            continue  # `sudo -u www-data curl ...` runs curl; `grep curl notes.txt` does not
        fetcher = _curl_urls if heads[first] == "curl" else _wget_urls
        candidates, get = fetcher(words[first + 1 :])
        if not get:
            continue
        for word in candidates:
            url = _normalise(word, own_names)
            if url is not None and url not in found:
                found.append(url)
    return found


# ---------------------------------------------------------------- at the end of a recording


def _own_names(hostname: str | None = None) -> frozenset[str]:
    # Not getfqdn(): it asks DNS, which may hang on a staging host without it.
    return frozenset({(hostname if hostname is not None else socket.gethostname()).lower()})


def _here(address: str, port: int) -> tuple[str, int]:
    return address, port


def probe_addresses(service_addresses: list[str]) -> list[str]:
    """Where to ask a port on this host, best first: loopback when the service listens on it, else its
    own address. A socket on `::` also takes IPv4 (dual stack), and a container often has no ::1."""
    out: list[str] = []
    for address in service_addresses:
        if address in ("0.0.0.0", "") or address.startswith("127."):
            out.append("127.0.0.1")
    for address in service_addresses:
        if address in ("::", "::1"):
            out += ["::1"] if address == "::1" else ["::1", "127.0.0.1"]
    out += service_addresses
    return list(dict.fromkeys(out))


def _addresses(services: list[Service]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for service in services:
        for p in service.ports:
            out.setdefault(p.port, []).append(p.address)
    return out


def take(session: Session, reach=_here, hostname: str | None = None) -> Fingerprint:
    """Ask every port the session's services listen on, as `record verify` will ask the image.
    `reach(address, port)` is where to connect to ask the host's address:port (a forwarded port when
    the host is reached over ssh); `hostname` is the host's own name."""
    addresses = _addresses(session.services)
    fingerprint = Fingerprint()
    answering: dict[int, str] = {}
    for port, where in sorted(addresses.items()):
        host = next((h for h in probe_addresses(where) if accepts(*reach(h, port))), "")
        ok = bool(host)
        fingerprint.ports.append(PortCheck(port=port, accepts=ok))
        if ok:
            answering[port] = host
    wanted: dict[str, int] = {}
    names = _own_names(hostname)
    for step in session.steps:
        for url in fetched_urls(step.expanded or step.command, names):
            wanted.setdefault(url, step.id)
    for port in answering:
        root = f"http://localhost{'' if port == 80 else f':{port}'}/"
        wanted.setdefault(root, 0)
    for url, step in wanted.items():
        port = urlsplit(url).port or 80
        if port not in answering:
            continue
        answer = fetch(url, *reach(answering[port], port))
        if answer is not None:
            fingerprint.http.append(HttpCheck(url, answer.status, answer.sha256, answer.size, step))
    return fingerprint.sort()
