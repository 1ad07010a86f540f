"""What `record verify` checks, and what the staging host had for each: pure, so `record show` lists it too.

Ports and HTTP answers come from the session's fingerprint; files, packages and ENV from the steps
the image replays (recorder/review/plan.py). A session recorded before fingerprints still has its
services' ports: they must at least accept connections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from recorder.model.session import FileChange, Fingerprint, PortCheck, Session, running_services
from recorder.review import plan

MATCH, MISMATCH, SKIPPED = "match", "mismatch", "skipped"
DROPPED = "recommended only: left out by `record minimize` (the image verified without it)"
LOOPBACK_ONLY = "bound to loopback on staging: not reachable from outside the container"


@dataclass
class Check:
    kind: str  # port | http | file | package | env | user
    subject: str
    expected: str
    observed: str = "not checked"
    result: str = SKIPPED
    note: str = ""  # what a reader should know: where it came from, or why it did not match
    skip: str = ""  # why it cannot be checked from outside the image; such a check is never judged

    def judge(self, observed: str) -> None:
        self.observed = observed
        self.result = MATCH if observed == self.expected else MISMATCH

    def as_dict(self) -> dict:
        return asdict(self)


def fingerprint(session: Session) -> Fingerprint:
    """A session recorded before fingerprints: its services' ports must at least accept connections."""
    if session.fingerprint is not None:
        return session.fingerprint
    ports = sorted({p.port for s in session.services for p in s.ports})
    return Fingerprint(ports=[PortCheck(port) for port in ports])


def _public_ports(session: Session) -> set[int]:
    """Ports reachable from outside the container; a port the session does not list is assumed to be."""
    listed = {p.port for s in session.services for p in s.ports}
    public = {p.port for s in session.services for p in s.ports if p.public}
    return public | ({p.port for p in fingerprint(session).ports} - listed)


def answer(status: int, sha256: str, size: int) -> str:
    return f"{status} sha256:{sha256[:12]} ({size} bytes)"


def file_expectation(f: FileChange) -> str | None:
    if f.kind == "deleted":
        return "absent"
    if f.kind == "symlink":
        return f"symlink -> {f.target}"
    if f.kind == "dir":
        return "a directory" + (f" mode {f.mode:04o}" if f.mode is not None else "")
    if f.sha256 is None:
        return None
    mode = f" mode {f.mode:04o}" if f.mode is not None else ""
    return f"sha256:{f.sha256[:12]}{mode}"


def expectations(session: Session) -> list[Check]:
    """Every check verify makes, with what staging had; pure, so `record show` can list them too."""
    fp = fingerprint(session)
    public = _public_ports(session)
    checks = []
    for p in fp.ports:
        c = Check("port", str(p.port), "accepts TCP" if p.accepts else "refuses TCP")
        if p.port not in public:
            c.skip = LOOPBACK_ONLY
        checks.append(c)
    for h in fp.http:
        c = Check("http", f"GET {h.url}", answer(h.status, h.sha256, h.size))
        if h.step:
            c.note = f"fetched in step {h.step}"
        if h.port not in public:
            c.skip = LOOPBACK_ONLY
        checks.append(c)
    p = plan.of(session)
    for path, state in sorted(p.files.items()):
        expected = file_expectation(state.change)
        c = Check("file", path, expected or "content not captured")
        if expected is None:
            c.skip = f"step {state.step} could not copy it on staging"
        checks.append(c)
    for name, pkg in sorted(p.packages.items()):
        note = "" if pkg.requested else "dependency"
        if name in p.kept_back:
            note = f"recommended, kept: {p.kept_back[name]}"
        checks.append(Check("package", name, pkg.version, note=note))
    for name, version in sorted(p.dropped.items()):
        checks.append(Check("package", name, version, skip=DROPPED))
    for name in sorted(p.removed):
        checks.append(Check("package", name, "absent"))
    for name, value in sorted(p.env.items()):
        checks.append(Check("env", name, value))
    users: dict[str, set[str]] = {}
    for service in running_services(session):
        for program, names in service.processes.items():
            users.setdefault(program, set()).update(names)
    for program, names in sorted(users.items()):
        checks.append(Check("user", program, process_users(names), note="the users its processes run as"))
    return checks


def process_users(names) -> str:
    return ", ".join(sorted(set(names)))
