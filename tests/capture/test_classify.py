"""How steps are judged: exit status of pipelines, env dumps, history lines, the FIFO event stream."""

from __future__ import annotations

import os
import shlex
import subprocess

from recorder.capture import hooks
from recorder.capture.classify import command_words, decide, effective_status, env_changes, opens_shell, parse_env
from recorder.capture.hooks import parse_exports
from recorder.model.session import Effects, FileChange, PackageChange


def test_pipeline_with_failed_first_stage_is_a_failure():
    assert effective_status(0, [1, 0]) == 1
    assert effective_status(0, [0, 0]) == 0
    assert effective_status(130, [130]) == 130
    assert effective_status(2, [0, 2]) == 2


def test_env_dump_drops_shell_bookkeeping_and_functions():
    blob = b"A=1\0PWD=/x\0SHLVL=2\0_=/usr/bin/env\0BASH_FUNC_f%%=() { :; }\0MULTI=a\nb\0"
    assert parse_env(blob) == {"A": "1", "MULTI": "a\nb"}
    assert env_changes({"A": "1", "B": "2"}, {"A": "3", "C": "4"}) == ({"A": "3", "C": "4"}, ["B"])


TRICKY_VALUES = {
    "PLAIN": "/usr/local/bin:/usr/bin",
    "EMPTY": "",
    "QUOTES": """it's "quoted" `ticks` $HOME \\ back""",
    "NEWLINES": "one\ntwo\n\nfour\n",
    "CONTROL": "tab\tbell\aesc\x1bdel\x7f\x01",
    "UTF8": "héllo wörld ✓",
    "LOOKS_LIKE_A_LINE": '1\ndeclare -x FORGED="yes"',
    "EQUALS": "a=b=c",
}


def test_env_dump_from_declare_reads_every_value_as_env_does(tmp_path):
    """bash's `declare -px` (what the hooks dump) read back gives what `env -0` gives for the same
    shell: the same names, the same bytes, arrays and unset exports left out as env leaves them."""
    script = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in TRICKY_VALUES.items())
    script += "export NOVALUE; export -a ARRAY=(1 'x\ndeclare -x FORGED2=1'); declare -ix NUMBER=7\n"
    script += f"declare -px >{tmp_path}/declare; env -0 >{tmp_path}/env\n"
    for locale in ("C.UTF-8", "C"):  # in the C locale bash writes non-ASCII bytes as $'\303\251'
        subprocess.run(["bash", "--norc", "-c", script], check=True, env={"LANG": locale, "PATH": os.defpath})
        from_declare = parse_env((tmp_path / "declare").read_bytes())
        assert from_declare == parse_env((tmp_path / "env").read_bytes())
        assert {k: from_declare[k] for k in TRICKY_VALUES} == TRICKY_VALUES
        assert "FORGED" not in from_declare and "FORGED2" not in from_declare and "NOVALUE" not in from_declare
        assert from_declare["NUMBER"] == "7" and "ARRAY" not in from_declare


def test_env_dump_from_bash_4_2_double_quotes_everything():
    """bash before 4.4 never writes $'…': newlines and control characters stand inside "…"."""
    blob = (
        b'declare -x A="x\\"y\\$z"\n'
        b'declare -x M="one\ntwo\x01"\n'
        b"declare -x U\n"
        b"declare -ax R='([0]=\"a\ndeclare -x F=1\" [1]=\"'\\''\")'\n"
        b'declare -x Z="z"\n'
    )
    assert parse_exports(blob) == [(b"A", b'x"y$z'), (b"M", b"one\ntwo\x01"), (b"Z", b"z")]
    assert parse_env(blob) == {"A": 'x"y$z', "M": "one\ntwo\x01", "Z": "z"}


def test_history_line_keeps_exact_command_text():
    assert hooks.parse_history_line("  42  apt-get install -y nginx") == "apt-get install -y nginx"
    assert hooks.parse_history_line("  7*  ls") == "ls"
    assert hooks.parse_history_line("12   export X=1") == " export X=1"
    assert hooks.parse_history_line("  3  cat <<EOF\nhi\nEOF") == "cat <<EOF\nhi\nEOF"


def test_event_parser_handles_split_reads_and_newlines():
    parser = hooks.EventParser()
    stream = b"start\x0012\0  1  for i in 1\ndo :; done\0finish\x0012\x003\x000\0" + b"0\0" + b"0 1\0/root\0"
    events = []
    for i in range(0, len(stream), 5):
        events += parser.feed(stream[i : i + 5])
    assert events == [("start", "12", "  1  for i in 1\ndo :; done"), ("finish", "12", "3", "0", "0", "0 1", "/root")]


def test_event_parser_skips_garbage():
    events = hooks.EventParser().feed(b"junk\0finish\x007\x002\x000\x001\0\0/\0")
    assert events == [("finish", "7", "2", "0", "1", "", "/")]


def test_an_answer_names_the_report_it_answers():
    assert hooks.answer(7, "3", "") == b"7:3 \n"
    assert hooks.answer(7, "4", "one\\two\nthree") == b"7:4 one\\\\two\\nthree\n"


def test_decisions():
    none = Effects()
    assert decide("false", 1, none) == ("skip", "failed (exit 1): left out of the image")
    assert decide("cd /opt", 0, none)[0] == "skip" and "directory" in decide("cd /opt", 0, none)[1]
    for refresh in ("apt-get update", "sudo apt update", "yum makecache", "dnf makecache", "apk update"):
        assert "package lists" in decide(refresh, 0, none)[1], refresh
    assert decide("ls -l", 0, none) == ("skip", "changed nothing the image keeps")
    pkg = Effects(packages=[PackageChange(manager="apt", installed={"nginx": "1"})])
    assert decide("apt-get install -y nginx", 0, pkg)[0] == "run"
    files = Effects(files=[FileChange(path="/etc/x", kind="file")], env_set={"A": "1"})
    assert decide("vi /etc/x", 0, files) == ("files", "changed 1 file: copied from files/; sets A: ENV")
    ports = Effects(ports_opened=[8080])
    assert decide("nginx", 0, ports)[0] == "skip"
    assert decide("make", 2, pkg)[0] == "skip"  # failure wins over any effect


def test_command_words_parses_real_command_lines():
    assert command_words("sudo apt-get install -y nginx && cd /opt") == [
        ["sudo", "apt-get", "install", "-y", "nginx"],
        ["cd", "/opt"],
    ]
    assert command_words("echo 'unclosed") == []


def test_shells_that_open_a_nested_session_are_recognised():
    for line in (
        "sudo -i",
        "sudo -u postgres -i",
        "su -",
        "su - postgres",
        "sudo su -",
        "bash",
        "zsh",
        "ssh web1",
        "sudo bash",
        "LANG=C bash --norc",
    ):
        assert opens_shell(line), line
    for line in (
        "sudo apt-get install -y nginx",
        "su -c 'id' postgres",
        "bash deploy.sh",
        "ssh web1 uptime",
        "sudo -u www-data touch /srv/x",
        "ls",
    ):
        assert not opens_shell(line), line
    assert decide("sudo -u postgres -i", 0, Effects())[1].startswith("opened a shell that was not followed")
    assert decide("sudo -i", 0, Effects(), nested=True)[1].startswith("opened a nested shell")


def test_aliases_are_parsed_and_expanded():
    aliases = hooks.parse_aliases("alias ll='ls -la'\nalias q='echo '\\''hi'\\'''\n")
    assert aliases == {"ll": "ls -la", "q": "echo 'hi'"}
    assert hooks.expand_alias("ll /etc", aliases) == "ls -la /etc"
    assert hooks.expand_alias("ls /etc", aliases) is None
