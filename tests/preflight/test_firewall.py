"""Which ports the local firewall refuses, from real `iptables-save` output.

Each ruleset is loaded with the real iptables into a fresh network namespace (`unshare --net`, as
root), so the host's firewall is never touched and the text evaluated is what the tool prints.
"""

from __future__ import annotations

import subprocess

from recorder.preflight import firewall

NODE_PORTS = [22, 6443, 2379, 2380, 10250, 10251, 10252, 30000, 31000, 32767]


def ruleset(*commands: str) -> str:
    """Apply iptables commands in a new network namespace and return `iptables-save -t filter` there."""
    script = "\n".join([*(f"iptables {c}" for c in commands), "iptables-save -t filter"])
    result = subprocess.run(["unshare", "--net", "sh", "-ec", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_empty_firewall_refuses_nothing():
    text = ruleset()
    assert ":INPUT ACCEPT" in text
    assert firewall.blocked(text, NODE_PORTS) == []


def test_drop_policy_refuses_what_is_not_accepted():
    text = ruleset(
        "-P INPUT DROP",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A INPUT -p tcp --dport 6443 -j ACCEPT",
        "-A INPUT -p tcp -m multiport --dports 2379:2380,10250 -j ACCEPT",
        "-A INPUT -p udp --dport 10251 -j ACCEPT",
    )
    assert firewall.blocked(text, NODE_PORTS) == [22, 10251, 10252, 30000, 31000, 32767]


def test_firewalld_zones_on_centos_7():
    """The chains firewalld builds on CentOS/RHEL 7, with 6443 and the NodePort range opened in zone public."""
    text = ruleset(
        "-N INPUT_direct",
        "-N INPUT_ZONES",
        "-N IN_public",
        "-N IN_public_log",
        "-N IN_public_deny",
        "-N IN_public_allow",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -j INPUT_direct",
        "-A INPUT -j INPUT_ZONES",
        "-A INPUT -m conntrack --ctstate INVALID -j DROP",
        "-A INPUT -j REJECT --reject-with icmp-host-prohibited",
        "-A INPUT_ZONES -i eth0 -g IN_public",
        "-A INPUT_ZONES -g IN_public",
        "-A IN_public -j IN_public_log",
        "-A IN_public -j IN_public_deny",
        "-A IN_public -j IN_public_allow",
        "-A IN_public -p icmp -j ACCEPT",
        "-A IN_public_allow -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT",
        "-A IN_public_allow -p tcp -m tcp --dport 6443 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT",
        "-A IN_public_allow -p tcp -m tcp --dport 30000:32767 -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT",
    )
    assert ":INPUT ACCEPT" in text  # the policy accepts; the final REJECT rule is what refuses
    assert firewall.blocked(text, NODE_PORTS) == [2379, 2380, 10250, 10251, 10252]


def test_rules_for_some_sources_count_as_accepting_and_never_as_refusing():
    text = ruleset(
        "-A INPUT -s 10.0.0.0/8 -p tcp --dport 10250 -j ACCEPT",
        "-A INPUT -s 192.0.2.7 -j DROP",
        "-A INPUT -p tcp ! --dport 6443 -j REJECT",
    )
    assert firewall.blocked(text, [6443, 10250, 10251]) == [10251]


def test_return_and_a_drop_for_a_single_port():
    text = ruleset(
        "-N CHECKS",
        "-A CHECKS -p tcp --dport 22 -j RETURN",
        "-A CHECKS -p tcp --dport 22:10250 -j DROP",
        "-A INPUT -j CHECKS",
    )
    assert firewall.blocked(text, [22, 6443, 10250, 10251]) == [6443, 10250]


def test_a_goto_returns_past_the_chain_that_went_there():
    text = ruleset(
        "-N ZONES",
        "-N ZONE",
        "-A INPUT -j ZONES",
        "-A INPUT -j REJECT",
        "-A ZONES -g ZONE",
        "-A ZONES -j ACCEPT",  # never reached: ZONE returns to INPUT
        "-A ZONE -p tcp --dport 6443 -j ACCEPT",
    )
    assert firewall.blocked(text, [6443, 10250]) == [10250]
