"""Which TCP ports the local firewall would refuse to a new connection from another host.

Reads the IPv4 filter table as `iptables-save` prints it; that covers plain iptables, iptables-nft
(Debian, RHEL 8+) and firewalld on CentOS/RHEL 7, which builds its zones out of iptables chains. It
follows jumps into user chains (firewalld's INPUT_ZONES -> IN_public -> IN_public_allow) and the
chain policy. A port is called blocked only when a rule or policy surely refuses it: a rule that
accepts from some sources only (`-s 10.0.0.0/8`, an unknown match) counts as accepting, a rule
that drops only some traffic is passed over. Native nftables tables are not read.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

BUILTIN_INPUT = "INPUT"
MAX_DEPTH = 32
KNOWN_MATCHES = ("tcp", "multiport", "conntrack", "state", "comment")
STOPS = ("DROP", "REJECT")


class FirewallUnreadable(Exception):
    """The rules could not be read (no iptables, not root, no netfilter)."""


@dataclass
class Rule:
    target: str = ""
    goto: bool = False
    protocol: str | None = None
    protocol_negated: bool = False
    ports: list[tuple[int, int]] | None = None  # destination port ranges, None when not matched on
    ports_negated: bool = False
    states: set[str] | None = None  # conntrack states, None when not matched on
    loopback: bool = False  # -i lo: traffic from this host only
    partial: bool = False  # matches only some connections (source, interface, an unknown match)

    def reach(self, port: int) -> str:
        """Whether a new TCP connection from another host to `port` meets this rule: all, some or none."""
        if self.loopback or self.protocol_negated:
            return "none"
        if self.protocol not in (None, "tcp", "all", "6"):
            return "none"
        if self.ports is not None:
            inside = any(a <= port <= b for a, b in self.ports)
            if inside == self.ports_negated:
                return "none"
        if self.states is not None and "NEW" not in self.states:
            return "none"
        return "some" if self.partial else "all"


@dataclass
class Chain:
    policy: str | None  # None for a user chain
    rules: list[Rule] = field(default_factory=list)


def live_rules() -> str:
    """`iptables-save -t filter` of the network namespace this process runs in."""
    # sbin is not on every user's PATH; the tool may still say "you must be root" below.
    tool = shutil.which("iptables-save", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if tool is None:
        raise FirewallUnreadable("iptables-save is not installed")
    try:
        result = subprocess.run([tool, "-t", "filter"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallUnreadable(f"iptables-save failed: {exc}") from None
    if result.returncode != 0:
        problem = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[0]
        raise FirewallUnreadable(f"iptables-save: {problem}")
    return result.stdout


def parse(text: str) -> dict[str, Chain]:
    """The filter table's chains from `iptables-save` output (other tables are ignored)."""
    chains: dict[str, Chain] = {}
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:]
        elif table != "filter" or not line or line.startswith("#"):
            continue
        elif line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            chains[name] = Chain(policy=None if policy == "-" else policy)
        elif line.startswith("-A "):
            words = shlex.split(line)
            chains.setdefault(words[1], Chain(policy=None)).rules.append(_rule(words[2:]))
    return chains


def _ranges(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        first, colon, last = part.partition(":")
        out.append((int(first or 0), int(last or 65535)) if colon else (int(first), int(first)))
    return out


def _rule(words: list[str]) -> Rule:
    rule = Rule()
    negate, i, targeted = False, 0, False
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate, i = True, i + 1
            continue
        if targeted:  # options of the target (--reject-with ...) say nothing about what matches
            i += 1
            continue
        if word in ("-j", "--jump", "-g", "--goto"):
            rule.target, rule.goto, targeted = value, word in ("-g", "--goto"), True
            i += 2
        elif word in ("-p", "--protocol"):
            rule.protocol, rule.protocol_negated = value.lower(), negate
            i += 2
        elif word in ("-i", "--in-interface"):
            if value == "lo" and not negate:
                rule.loopback = True
            else:
                rule.partial = True
            i += 2
        elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            rule.ports, rule.ports_negated = _ranges(value), negate
            i += 2
        elif word in ("--ctstate", "--state"):
            states = set(value.upper().split(","))
            rule.states = {"NEW", "UNTRACKED", "INVALID", "ESTABLISHED", "RELATED"} - states if negate else states
            i += 2
        elif word in ("-m", "--match"):
            if value not in KNOWN_MATCHES:
                rule.partial = True
            i += 2
        elif word == "--comment":
            i += 2
        else:  # -s, -d, --sport, an unknown match's options: narrows the rule to some connections
            rule.partial = True
            i += 1
            while i < len(words) and not words[i].startswith("-") and words[i] != "!":
                i += 1
        negate = False
    return rule


def _verdict(chains: dict[str, Chain], name: str, port: int, depth: int = 0) -> str | None:
    """ACCEPT, DROP, or None when the chain returns to its caller."""
    chain = chains.get(name)
    if chain is None or depth > MAX_DEPTH:
        return None
    for rule in chain.rules:
        reach = rule.reach(port)
        if reach == "none":
            continue
        if rule.target == "ACCEPT":
            return "ACCEPT"
        if rule.target in STOPS:
            if reach == "all":
                return "DROP"
        elif rule.target == "RETURN":
            if reach == "all":
                return None
        elif rule.target in chains:
            result = _verdict(chains, rule.target, port, depth + 1)
            if result is not None:
                return result
            if rule.goto and reach == "all":
                break  # a goto's chain returns past this one

    if chain.policy in STOPS:
        return "DROP"
    return "ACCEPT" if chain.policy is not None else None


def blocked(text: str, ports: Iterable[int]) -> list[int]:
    """The ports, among `ports`, that the INPUT chain refuses to new connections from other hosts."""
    chains = parse(text)
    if BUILTIN_INPUT not in chains:
        return []
    return sorted(p for p in ports if _verdict(chains, BUILTIN_INPUT, p) == "DROP")
