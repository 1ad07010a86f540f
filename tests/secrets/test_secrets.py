"""Secrets: each kind is found and replaced by its placeholder, ordinary deployment text is left alone,
and the generated files ask for secrets at run time instead of baking them in."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators import dockerfile
from recorder.capture.cast import redact_events
from recorder.errors import RecorderError
from recorder.model import read
from recorder.model import session as s
from recorder.model.placeholders import needs
from recorder.secrets import detect as secrets
from recorder.secrets import guard, redact
from recorder.secrets import needles as prefilter
from tests import fakes
from tests.cli import PROMPT, record_in_pty

HERE = Path(__file__).resolve().parents[1]
EXAMPLE = HERE.parent / "sessions" / "web"
GOLDEN = HERE / "golden" / "secrets"

# (command template, the fake secret) — one per kind the issue names
KINDS = {
    "variable by name": ("export DB_PASSWORD={}", fakes.password),
    "AWS access key": ("export AWS_ACCESS_KEY_ID={}", fakes.aws_access_key_id),
    "GitHub token": ("git clone https://oauth2:{}@github.example/org/app.git", fakes.github_token),
    "GitLab token": ("curl -H 'PRIVATE-TOKEN: {}' https://gitlab.example/api/v4/projects", fakes.gitlab_token),
    "Slack token": ("export NOTIFY={}", fakes.slack_token),
    "JWT": ("curl -H 'Authorization: Bearer {}' http://localhost/api", fakes.jwt),
    "private key": ("cat > /etc/ssl/private/app.key <<'EOF'\n{}\nEOF", fakes.private_key),
    "URL credentials": ("export DATABASE_URL=postgres://app:{}@db:5432/app", fakes.password),
    "high entropy": ('export BUILD_SALT="{}"', fakes.high_entropy),
    "mysql -p": ("mysql -uroot -p{} -e 'select 1'", fakes.password),
    "curl -u": ("curl -fsS -u deploy:{} https://artifacts.example/app.tgz", fakes.password),
    "docker login -p": ("docker login -u ci -p {} registry.example", fakes.password),
    "--password=": ("app-admin reset --password={}", fakes.password),
}

# Deployment commands that hold no secret: they must come out exactly as they went in.
ORDINARY = [
    "apt-get install -y nginx=1.22.1-9+deb12u9 libcap2-bin=1:2.66-4+deb12u3+b1",
    "sed -i 's/listen 80 default_server;/listen 8080 default_server;/' /etc/nginx/sites-available/default",
    "git checkout 3f2a9c1d4e5b6a7980c1d2e3f4a5b6c7d8e9f0a1",
    "echo '30d64929491f8ef0d30a26ebe734994b806d83fbceab8edabd56c528cfac9549  app.tgz' | sha256sum -c",
    "curl -fsSL https://deb.nodesource.com/setup_20.x -o /tmp/nodesource_setup.sh",
    "pip install flask==3.0.0 gunicorn==21.2.0",
    "ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6",
    "export APP_ENV=staging PASSWORD_MIN_LENGTH=12 TOKEN_FILE=/run/secrets/token",
    "docker login --password-stdin registry.example < /run/secrets/registry",
    "grep -q 'BEGIN RSA PRIVATE " + "KEY' /etc/ssl/private/app.key",  # split: no scanner takes this file for a key
    "useradd -m -s /bin/bash deploy && passwd -l deploy",
    "export DB_PASSWORD=$(cat /run/secrets/db)",
    "ssh -p 2222 deploy@10.0.0.5 uptime",
]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_of_secret_is_replaced_by_a_named_placeholder(kind):
    template, make = KINDS[kind]
    secret = make()
    command = template.format(secret)
    redacted = redact.Redactor().command(command)
    assert secret not in redacted
    for line in secret.splitlines():
        assert line not in redacted
    assert "<redacted:" in redacted
    before, _, after = template.partition("{}")
    assert redacted.startswith(before) and redacted.endswith(after)  # only the secret went


SECRET_NAMES = [
    "DB_PASSWORD",
    "MYSQL_PWD",
    "requirepass",
    "api-key",
    "GITHUB_TOKEN",
    "APP_SECRET_KEY",
    "PROXY_AUTH",
    "userPassword",
    "AuthLDAPBindPassword",
]
NOT_SECRET_NAMES = [
    "PASSWORD_FILE",
    "PasswordFile",
    "SSLPassPhraseDialog",
    "ServerTokens",
    "server_tokens",
    "TOKEN_TTL",
    "PASSWORD_MIN_LENGTH",
    "AUTH_PROVIDER",
    "SSH_AUTH_SOCK",
    "KEY",
    "fastcgi_pass",
    "uwsgi_pass",
]


@pytest.mark.parametrize("name", SECRET_NAMES + NOT_SECRET_NAMES)
def test_secret_names(name):
    assert secrets.is_secret_name(name) == (name in SECRET_NAMES)


# Lines of ordinary config files: where a service passes requests is an address, not a secret. The
# nginx site of every PHP deployment says `fastcgi_pass unix:...`; withheld, nginx fails on the include.
ADDRESSES = [
    "        fastcgi_pass unix:/run/php/php8.2-fpm.sock;",
    "        fastcgi_pass 127.0.0.1:9000;",
    "    uwsgi_pass localhost:3031;",
    "    scgi_pass [::1]:4000;",
    "    proxy_pass http://127.0.0.1:8000;",
    "upstream_pass = backend.internal:8080",
]
STILL_SECRETS = ["password = hunter2hunter", "db_pass: s3cr3tP4ss", "requirepass foobared99"]


@pytest.mark.parametrize("line", ADDRESSES + STILL_SECRETS)
def test_an_address_in_a_config_file_is_not_a_secret_and_a_password_still_is(line):
    found = [line[h.start : h.end] for h in secrets.find_in_file(line + "\n")]
    assert bool(found) == (line in STILL_SECRETS), found


# Directives of the config files Debian ships (tests/secrets/test_conffiles.py) whose name holds a
# secret's word but whose value is none, and directives of the same syntax that do hold one.
ABOUT_A_SECRET = [
    "SSLPassPhraseDialog  exec:/usr/share/apache2/ask-for-passphrase",  # how the passphrase is asked for
    "SSLPassPhraseDialog builtin",
    "ServerTokens OS",  # what the Server: header names
    "ServerTokens Minimal",
    "    server_tokens build;",
]
HOLDING_ONE = [
    "AuthLDAPBindPassword {}",
    "OIDCClientSecret {}",
    "    secure_link_secret {};",
]


@pytest.mark.parametrize("template", ABOUT_A_SECRET + HOLDING_ONE)
def test_a_directive_about_a_secret_is_not_one_and_a_directive_holding_one_still_is(template):
    pw = fakes.password()
    line = template.format(pw)
    found = [line[h.start : h.end] for h in secrets.find_in_file(line + "\n")]
    assert found == ([pw] if template in HOLDING_ONE else []), found


@pytest.mark.parametrize("command", ORDINARY)
def test_ordinary_deployment_commands_are_left_alone(command):
    assert redact.Redactor().command(command) == command


def test_the_same_value_keeps_one_placeholder_everywhere_and_others_get_their_own():
    r = redact.Redactor()
    pw, other = fakes.password(), fakes.password()
    assert r.command(f"export DB_PASSWORD={pw}") == "export DB_PASSWORD=<redacted:DB_PASSWORD>"
    assert r.command(f"mysql -p{pw} app") == "mysql -p<redacted:DB_PASSWORD> app"
    assert r.command(f"echo {pw} | wc -c") == "echo <redacted:DB_PASSWORD> | wc -c"  # known now, found anywhere
    assert r.command(f"export DB_PASSWORD={other}") == "export DB_PASSWORD=<redacted:DB_PASSWORD_2>"


def test_a_step_is_redacted_in_every_field_and_says_why():
    r = redact.Redactor()
    typed, token = fakes.password(), fakes.github_token()
    step = s.Step(
        id=1,
        command=f"read -s X && export ADMIN_CODE=$X GH={token}",
        cwd="/root",
        exit=0,
        replay="files",
        why="sets ADMIN_CODE, GH, MODE: ENV",
        expanded=f"echo {typed}",
        effects=s.Effects(
            env_set={"ADMIN_CODE": typed, "GH": token, "MODE": "prod"},
            files=[s.FileChange(path=f"/etc/app/{token}.json", kind="file")],
        ),
    )
    r.environment(step, [typed])
    r.step(step)
    assert step.effects.env_set == {
        "ADMIN_CODE": "<redacted:ADMIN_CODE>",  # typed at the prompt, named after where it went
        "GH": "<redacted:GH>",
        "MODE": "prod",
    }
    assert step.command == "read -s X && export ADMIN_CODE=$X GH=<redacted:GH>"
    assert step.expanded == "echo <redacted:ADMIN_CODE>"
    assert step.effects.files[0].path == "/etc/app/<redacted:GH>.json" and step.effects.files[0].secret
    assert "ADMIN_CODE, GH: secret, given at run time" in step.why


def test_captured_files_with_secrets_are_flagged_and_plain_ones_are_not():
    r = redact.Redactor()
    pw = fakes.password()
    assert r.file_content(f"[db]\nuser = app\npassword = {pw}\n".encode()) == "secret setting on line 3"
    assert r.file_content(f"requirepass {pw}\n".encode()) == "secret setting on line 1"
    assert r.file_content(fakes.private_key().encode()) == "private key on line 1"
    assert r.file_content(f"x: 1\ntoken_endpoint: https://a.example/{fakes.jwt()}\n".encode()).startswith(
        "json web token on line 2"
    )
    assert r.file_content(f"notify = {pw}\n".encode()) == "the secret PASSWORD on line 1"  # seen before
    aws, gitlab = fakes.aws_secret_access_key(), fakes.gitlab_token()  # as tests/e2e/test_trust.py writes them
    assert r.file_content(f"[default]\naws_secret_access_key = {aws}\n".encode()) == "secret setting on line 2"
    assert r.file_content(f"gitlab_token = {gitlab}\n".encode()) == "secret setting on line 1, gitlab token on line 1"
    # learned from the file, each is gone from the command that wrote it, whatever its shape
    written = r.command(f"printf '[default]\\naws_secret_access_key = %s\\n' {aws} > /root/.aws/credentials")
    assert aws not in written and "<redacted:AWS_SECRET_ACCESS_KEY>" in written
    for plain in (EXAMPLE / "files").rglob("*"):
        if plain.is_file():
            assert r.file_content(plain.read_bytes()) == "", plain
    not_secrets = b"# password: set it below\npassword_file = /run/secrets/db\nPasswordAuthentication no\n"
    assert r.file_content(not_secrets) == ""


@pytest.mark.parametrize("make", [fakes.github_token, fakes.password])
def test_a_secret_on_a_service_s_command_line_is_replaced_in_what_runs_and_what_was_seen(make):
    secret = make()  # a token by its shape, or anything by the option's name
    argv = ["python3", "/opt/srv.py", "--token", secret]
    service = s.Service(name="srv", command=list(argv), observed=list(argv))
    redact.Redactor().service(service)
    assert service.command == service.observed == ["python3", "/opt/srv.py", "--token", "<redacted:TOKEN>"]


def test_typed_lines_apply_erase_and_kill_as_the_terminal_did():
    assert secrets.typed_lines(b"hunx\x7fter2\r") == ["hunter2"]
    assert secrets.typed_lines(b"wrong\x15right\rsecond\n") == ["right", "second"]


def test_the_text_every_match_holds_is_read_from_the_top_level_of_a_pattern_only():
    assert prefilter.required_text(re.compile(r"(?:r|s)k_live_[0-9a-z]{24}")) == "k_live_"
    assert prefilter.required_text(re.compile(r"xox(?:a|b)-\d+", re.IGNORECASE)) == "xox"
    assert prefilter.required_text(re.compile(r"ab?cd")) == "cd"  # b is optional: a and cd are runs
    assert prefilter.required_text(re.compile(r"ghp_x|glpat-y")) == "g"  # what the alternatives share
    for nothing in (r"ghp_x|xoxb-y", r"(?:BEGIN)+", r"[A-Z]{20}", r"(?=key)\w+"):
        assert prefilter.required_text(re.compile(nothing)) == ""


def test_a_gate_is_characters_one_of_which_every_match_holds_the_rarest_known():
    assert prefilter.required_chars(re.compile(r"SG\.[a-z]{22}\.[a-z]{43}")) == {"G"}  # S and G tie: G sorts first
    assert prefilter.required_chars(re.compile(r"ab?c=d")) == {"="}  # punctuation before letters
    assert prefilter.required_chars(re.compile(r"(?:xA1|yyAz)k")) == {"A"}  # what every alternative holds
    assert prefilter.required_chars(re.compile(r"(?:Rk|sk)-\d+")) == {"-"}
    assert prefilter.required_chars(re.compile(r"key.{0,9}['\"]x", re.IGNORECASE)) == {"'", '"'}
    assert prefilter.required_chars(re.compile(r"(?:[=@]xy)+")) == {"=", "@"}  # a repeat of at least once
    for nothing in (r"[A-Z]{20}", r"\dQ?\d", r"\d(?:Q)*", r"(?=Q)\w+", r"Qx|Zy", r"QZK", r"[^Q]+"):
        gate = prefilter.required_chars(re.compile(nothing, re.IGNORECASE if nothing == "QZK" else 0))
        assert gate == set(), nothing  # optional, alternatives without a common one, letters when case is ignored


def test_every_plugin_gate_is_held_by_what_the_plugin_finds():
    """A gate rules a text out before its search: each fake secret still holds its plugin's gate."""
    samples = [
        fakes.aws_access_key_id(),
        f"aws_secret_key = '{fakes.aws_secret_access_key()}'",
        fakes.github_token(),
        fakes.gitlab_token(),
        fakes.slack_token(),
        fakes.jwt(),
        fakes.private_key(),
        f"https://deploy:{fakes.password()}@git.example.com/app.git",
        "https://hooks.slack.com/services/" + "/".join(("T" + "0" * 8, "B" + "0" * 8, "x" * 24)),
    ]
    held = 0
    for _, searches in secrets._searches():
        for search in searches:
            for sample in samples:
                for m in search.regex.finditer(sample):
                    held += 1
                    assert search.gate & set(m.group()) or not search.gate, (search.regex.pattern, m.group())
    assert held >= len(samples)
    text = "0123456789 the quick brown fox jumps over the lazy dog\n" * 200
    for sample in samples:  # found at the end of a long text that holds no gate but theirs
        found = secrets.find_values(text + sample, entropy=False, tokens_only=True)
        assert found and found[0].start >= len(text), sample


def test_case_blind_patterns_find_tokens_in_any_case_and_beside_any_letters():
    """Slack's patterns ignore case: their needle is looked for as re finds it ignoring case, which
    also folds letters such as the Kelvin sign and the long s onto ASCII ones."""
    token = fakes.slack_token()
    for text in (f"token {token.upper()} done", f"jeton {token.upper()} prêt", f"{token[:1]}\u212a {token} ok"):
        found = [text[h.start : h.end] for h in secrets.find_values(text, entropy=False, tokens_only=True)]
        assert token.upper() in found or token in found, text
    long_s = "xo" + "xb-1234-" + "abc\u017fdef"  # matches Slack's pattern only through re's folding of ſ
    text = f"see {long_s} here"
    assert re.search(r"xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+", text, re.IGNORECASE)
    assert secrets.find_values(text, entropy=False, tokens_only=True), "found through re's folding of ſ"
    assert secrets.find_values("0123456789\n" * 1000 + text, entropy=False, tokens_only=True), "in a long text too"


def test_cast_events_are_redacted_even_when_a_secret_is_split_between_two_bursts():
    r = redact.Redactor()
    pw = fakes.password()
    r.learn(pw, "DB_PASSWORD")
    texts = [f"$ mysql -p{pw[:5]}", f"{pw[5:]} app\r\n", "ok\r\n", f"again {pw}\r\n"]
    out = redact_events(texts, r.spans("".join(texts)))
    assert out == ["$ mysql -p<redacted:DB_PASSWORD>", " app\r\n", "ok\r\n", "again <redacted:DB_PASSWORD>\r\n"]
    token = fakes.github_token()  # never seen in a command: found in the output by its shape
    assert redact_events([f"token is {token}\r\n"], r.spans(f"token is {token}\r\n")) == [
        "token is <redacted:GITHUB_TOKEN>\r\n"
    ]


def test_store_survives_a_crash_and_is_private(tmp_path):
    store = tmp_path / "secrets.local.json"
    pw = fakes.password()
    redact.Redactor(store).learn(pw, "DB_PASSWORD")
    assert os.stat(store).st_mode & 0o077 == 0
    assert redact.Redactor(store).command(f"echo {pw}") == "echo <redacted:DB_PASSWORD>"


def test_generated_files_never_hold_a_placeholder_as_a_value():
    session = read.load(GOLDEN)
    files = dockerfile.generate(session)
    text = files["Dockerfile"]
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not any(line.startswith(("ENV DB_PASSWORD", "ENV DATABASE_URL", "ARG")) for line in instructions)
    assert 'ENV APP_ENV="prod"' in instructions
    assert "COPY files/etc/app/app.conf /etc/app/app.conf" in instructions
    assert not any("db.ini" in line for line in instructions)  # the secret file is mounted, not copied
    assert not any("curl" in line for line in instructions)  # needs a secret to build: left out
    assert not any("<redacted:" in line for line in instructions)
    shape = "postgres://app:<redacted:DATABASE_URL_PASSWORD>@db:5432/app"
    assert files[".env.example"].splitlines()[3:6] == [
        "DB_PASSWORD=",
        f"# recorded as {shape} : put the whole value, its secret part filled in",
        "DATABASE_URL=",
    ]
    assert needs(session).files == {"/etc/app/db.ini": "secret setting on line 2"}
    assert ".env" in files[".dockerignore"].splitlines()


def test_entrypoint_reads_secrets_from_the_environment_when_the_container_starts(tmp_path):
    pw = fakes.password()
    show_argv = "import sys, json; print(json.dumps(sys.argv[1:]))"
    argv = dockerfile._entrypoint_argv([sys.executable, "-c", show_argv, "--db=<redacted:DB_PASSWORD>", "it's"])
    out = subprocess.run(argv, env={"DB_PASSWORD": pw}, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [f"--db={pw}", "it's"]


def test_a_secret_written_into_session_yaml_by_hand_is_refused_without_being_shown(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    token = fakes.github_token()
    text = (GOLDEN / "session.yaml").read_text().replace("APP_ENV: prod", f"APP_ENV: {token}")
    (d / "session.yaml").write_text(text)
    shutil.copytree(GOLDEN / "files", d / "files")
    with pytest.raises(RecorderError) as err:
        guard.refuse_unredacted(read.load(d), d / "session.yaml")
    line = text[: text.index(token)].count("\n") + 1
    said = f"session.yaml:{line}: step 1: env_set.APP_ENV holds what looks like a secret (GitHub Token)"
    assert said in str(err.value)
    assert token not in str(err.value)
    guard.refuse_unredacted(read.load(GOLDEN), GOLDEN / "session.yaml")  # placeholders are fine
    guard.refuse_unredacted(read.load(EXAMPLE), EXAMPLE / "session.yaml")


def test_a_secret_on_any_running_services_command_line_is_refused():
    """Every service the image runs is checked, not only the first: a second one under supervisord
    would carry its token into the image just the same."""
    session = read.load(HERE / "golden" / "app")
    token = fakes.github_token()
    second = session.services[1]
    second.replay = "run"
    second.command = [*second.command, "--token", token]
    with pytest.raises(RecorderError) as err:
        guard.refuse_unredacted(session, HERE / "golden" / "app" / "session.yaml")
    assert f"service {second.name}: command holds what looks like a secret" in str(err.value)
    assert token not in str(err.value)
    second.replay = "skip"  # a service left out of the image takes nothing into it
    guard.refuse_unredacted(session, HERE / "golden" / "app" / "session.yaml")


def test_error_messages_are_scrubbed():
    token = fakes.github_token()
    assert token not in guard.scrub_message(f"cannot use {token}\nsecond line")
    assert "\n" not in guard.scrub_message("a\nb")


PRINTABLE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(before=PRINTABLE, after=PRINTABLE, kind=st.sampled_from(sorted(k for k in KINDS if k != "high entropy")))
def test_a_secret_in_any_surrounding_text_never_survives(before, after, kind):
    template, make = KINDS[kind]
    secret = make()
    redacted = redact.Redactor().command(before + " " + template.format(secret) + " " + after)
    assert secret not in redacted


# ---------------------------------------------------------------- a real recording


def _record(home: Path, tmp_path: Path, command: str) -> pexpect.spawn:
    return record_in_pty(home, tmp_path, command=command)


@pytest.mark.parametrize("crash", [False, True])
def test_unredacted_output_stays_private_and_the_cast_is_cleaned_even_after_a_crash(home, tmp_path, crash):
    pw = fakes.password()
    d = tmp_path / "sessions" / "t"
    child = _record(home, tmp_path, "start")
    child.sendline(f"export DB_PASSWORD={pw}")
    child.expect(PROMPT)
    child.sendline("echo the password is $DB_PASSWORD")
    child.expect(f"the password is {pw}")  # the user's own screen shows it
    child.expect(PROMPT)
    private = [d / "terminal.cast.raw", d / "terminal.cast.timing", d / "secrets.local.json"]
    for path in private:
        assert os.stat(path).st_mode & 0o077 == 0, path  # while recording: its owner's only
        assert f"/{path.name}\n" in (d / ".gitignore").read_text()  # and never committed
    if crash:
        psutil.Process(child.pid).children()[0].send_signal(signal.SIGKILL)
        child.expect(pexpect.EOF)
        assert pw.encode() in (d / "terminal.cast.raw").read_bytes()  # left for resume, still private
        child = _record(home, tmp_path, "resume")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    for path in private:
        assert not path.exists(), path
    cast = (d / "terminal.cast").read_text()
    assert "the password is <redacted:DB_PASSWORD>" in cast
    assert "export DB_PASSWORD=<redacted:DB_PASSWORD>" in cast  # the echo of what was typed, too
    for path in d.rglob("*"):
        if path.is_file():
            assert pw.encode() not in path.read_bytes(), path


def test_exit_after_a_long_output_leaves_a_clean_cast_and_nothing_private(home, tmp_path):
    """40 MB printed, then `exit` at once. The recorder ends without waiting for a scan of all of it
    when its cast's follower is far behind (it says which process finishes the cast), or waits for
    it when not. Either way the cast ends complete and clean: the value typed before, a token
    printed last; and nothing private is left (raw output, timing, part, the values' store)."""
    pw, token = fakes.password(), fakes.github_token()
    listing = "".join(f"-rw-r--r-- 1 root root {i:5} Jan  1 00:00 file{i}.conf\n" for i in range(1000))
    big = tmp_path / "listing.txt"
    big.write_text(listing * 800 + f"the password {pw} and a token {token}\n")
    d = tmp_path / "sessions" / "t"
    child = _record(home, tmp_path, "start")
    child.sendline(f"export DB_PASSWORD={pw}")
    child.expect(PROMPT)
    child.sendline(f"cat {big}")
    child.expect(PROMPT, timeout=120, searchwindowsize=4096)
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=120)
    left = re.search(r"still being cleaned of secrets .*? by\s+process\s+(\d+)", child.before, re.S)
    if left:  # the follower finishes the cast on its own
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(int(left.group(1))).wait(timeout=300)
    cast = (d / "terminal.cast").read_text()
    assert cast.count("file999.conf") == 800
    assert "the password <redacted:DB_PASSWORD> and a token <redacted:GITHUB_TOKEN>" in cast
    assert pw not in cast and token not in cast
    for name in ("terminal.cast.raw", "terminal.cast.timing", "terminal.cast.part", "secrets.local.json"):
        assert not (d / name).exists(), name


def test_files_named_after_a_secret_or_holding_one_stay_on_the_host(home, tmp_path):
    token, pw = fakes.github_token(), fakes.password()
    w = tmp_path / "watched"
    child = _record(home, tmp_path, "start")
    for command in (f"echo hello > {w}/{token}.txt", f"printf 'user=app\\npassword={pw}\\n' > {w}/db.env"):
        child.sendline(command)
        child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    d = tmp_path / "sessions" / "t"
    session = read.from_yaml_text((d / "session.yaml").read_text(), d / "session.yaml")
    named, holding = (st.effects.files[0] for st in session.steps)
    assert (named.path, named.secret) == (f"{w}/<redacted:GITHUB_TOKEN>.txt", "its path holds a secret")
    assert (holding.path, holding.secret, holding.sha256) == (f"{w}/db.env", "secret setting on line 2", None)
    assert [p.name for p in (d / "files").rglob("*") if p.is_file()] == []
    for path in d.rglob("*"):
        assert token not in str(path)
        if path.is_file():
            assert token.encode() not in path.read_bytes() and pw.encode() not in path.read_bytes(), path


def test_a_path_through_a_mktemp_directory_is_not_a_secret():
    """mktemp's random suffix makes the run of path segments after it look like base64 to the entropy check."""
    command = "echo during-0 > /var/tmp/record-ci.HjQNQy/tmp/pytest-of-root/pytest-0/test_a_full0/watched/during-0.txt"
    assert secrets.find_values(command) == []
    # no slash of its own: one at either end, or two in a row (1 draw in 20), makes the `//` of a URL
    token = fakes.high_entropy().replace("/", "+")
    assert secrets.find_values(f"export KEY={token}/{token[:6]}") != []  # a slash in base64 is still base64


def test_detect_secrets_is_imported_without_requests_and_requests_still_works_after():
    """Start-up: detect-secrets' plugins are built with `requests` left out (it is only for checking a
    secret online); they still find secrets, and whatever imports requests afterwards gets the real
    one (the docker SDK talks to the engine through it)."""
    script = """
import sys
from recorder.secrets import detect
detect.warm_up()
assert "requests" not in sys.modules and "urllib3" not in sys.modules, sorted(sys.modules)
kinds = {hit.kind for hit in detect.find_values("key AKIAIOSFODNN7EXAMPLE and ghp_" + "a1B2c3D4" * 4 + "e5F6")}
assert {"AWS Access Key", "GitHub Token"} <= kinds, kinds
import docker
import requests
assert requests.Session.__module__ == "requests.sessions" and callable(requests.get)
assert issubclass(docker.APIClient, requests.Session)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
