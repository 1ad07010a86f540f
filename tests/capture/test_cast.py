"""The cast is redacted as output arrives: a secret cut in two by a read, by a scan, or learned only at
its command's prompt (or later) never reaches terminal.cast in the clear, and nothing private is left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture import cast as casting
from recorder.capture import cast_follower
from recorder.capture.cast import CastWriter
from recorder.secrets.redact import Redactor
from tests import fakes


def shown(path: Path) -> str:
    """What the cast replays: its events' text, joined."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["version"] == 2
    return "".join(json.loads(line)[2] for line in lines[1:])


def writer(tmp_path: Path, redactor: Redactor, append: bool = False) -> CastWriter:
    return CastWriter(tmp_path / "terminal.cast", 80, 24, {"TERM": "xterm"}, append=append, redactor=redactor)


def assert_nothing_left(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["terminal.cast"]


def test_a_known_secret_split_across_two_reads_is_redacted(tmp_path):
    r = Redactor()
    pw = fakes.password()
    r.learn(pw, "DB_PASSWORD")
    cast = writer(tmp_path, r)
    cast.output(f"$ mysql -p{pw[:7]}".encode())
    cast.output(f"{pw[7:]} app\r\n".encode())
    cast.flush()
    cast.close()
    assert shown(tmp_path / "terminal.cast") == "$ mysql -p<redacted:DB_PASSWORD> app\r\n"
    assert_nothing_left(tmp_path)


def test_a_token_split_across_two_reads_is_found_by_its_shape(tmp_path):
    r = Redactor()
    token = fakes.github_token()
    cast = writer(tmp_path, r)
    cast.output(f"token: {token[:20]}".encode())
    cast.output(f"{token[20:]}\r\n".encode())
    cast.flush()
    cast.close()
    assert shown(tmp_path / "terminal.cast") == "token: <redacted:GITHUB_TOKEN>\r\n"


def test_a_character_split_across_two_reads_is_kept(tmp_path):
    cast = writer(tmp_path, Redactor())
    data = "naïve café ✓\r\n".encode()
    cast.output(data[:3])  # inside the ï
    cast.output(data[3:])
    cast.close()
    assert shown(tmp_path / "terminal.cast") == "naïve café ✓\r\n"


def test_what_a_command_printed_waits_for_its_prompt_and_the_secrets_typed_for_it(tmp_path):
    """The echo of `export DB_PASSWORD=...` is output before the recording knows the value: it is let
    into the cast only at the prompt, when the step has been redacted and the value learned."""
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    cast.output(f"$ export DB_PASSWORD={pw}\r\n".encode())
    r.learn(pw, "DB_PASSWORD")  # what Recording._protect does before the prompt
    cast.flush()
    cast.output(b"$ echo done\r\ndone\r\n")
    cast.close()
    assert shown(tmp_path / "terminal.cast") == "$ export DB_PASSWORD=<redacted:DB_PASSWORD>\r\n$ echo done\r\ndone\r\n"


def test_a_secret_learned_after_it_was_let_through_has_the_cast_written_again(tmp_path):
    """Printed at one prompt, typed at a later one (or typed ahead): the cast is written again from the
    raw output at close, with every value known then."""
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    cast.output(f"$ cat generated\r\n{pw}\r\n".encode())
    cast.flush()
    cast.output(b"$ export APP_KEY=...\r\n")
    r.learn(pw, "APP_KEY")
    cast.flush()
    cast.close()
    text = shown(tmp_path / "terminal.cast")
    assert pw not in text and "$ cat generated\r\n<redacted:APP_KEY>\r\n" in text
    assert_nothing_left(tmp_path)


@pytest.fixture
def small_scans(monkeypatch):
    """Scans of a few hundred characters, so a test's output crosses many of them."""
    monkeypatch.setattr(casting, "TAIL", 96)
    monkeypatch.setattr(casting, "BATCH", 160)


def test_a_secret_learned_at_the_prompt_of_a_long_output_is_found_in_what_was_scanned(tmp_path, small_scans):
    """When a command printed more than one scan, its echo was scanned before the prompt taught the
    value: what waits for the prompt is scanned again, and the cast need not be written twice."""
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    cast.output(f"$ mysql -p{pw} -e 'select * from big'\r\n".encode())
    for i in range(40):
        cast.output(f"row {i:04} | some value | another value\r\n".encode())
    r.learn(pw, "MYSQL_PASSWORD")
    cast.flush()
    cast.close()
    text = shown(tmp_path / "terminal.cast")
    assert text.startswith("$ mysql -p<redacted:MYSQL_PASSWORD> -e") and "row 0039" in text
    assert not cast.rewritten


CHUNKS = st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(cuts=CHUNKS)
def test_however_the_output_is_cut_the_cast_is_what_redacting_it_whole_gives(tmp_path_factory, cuts):
    """Reads of any size, scans far shorter than the output: every secret is seen whole, and the cast
    replays exactly the output redacted at once."""
    saved = casting.TAIL, casting.BATCH
    casting.TAIL, casting.BATCH = 600, 200  # a tail longer than the key, the longest secret here
    try:
        tmp_path = tmp_path_factory.mktemp("cast")
        r = Redactor()
        pw, token, jwt, key = fakes.password(), fakes.github_token(), fakes.jwt(), fakes.private_key()
        r.learn(pw, "DB_PASSWORD")
        lines = [pw, token, jwt, "nothing here", "café ✓", key.replace("\n", "\r\n")]
        text = "".join(f"line {i}: {lines[i % len(lines)]} end\r\n" for i in range(36)).encode()
        cast, pos, k = writer(tmp_path, r), 0, 0
        while pos < len(text):
            size = cuts[k % len(cuts)]
            cast.output(text[pos : pos + size])
            pos, k = pos + size, k + 1
            if k % 7 == 0:
                cast.flush()
        cast.close()
        whole = text.decode()
        expected = casting.redact_events([whole], r.spans(whole))[0]
        got = shown(tmp_path / "terminal.cast")
        assert got == expected
        assert not any(secret in got for secret in (pw, token, jwt, *key.splitlines()[1:-1]))
        assert re.findall(r"<redacted:(\w+)>", got)[:4] == ["DB_PASSWORD", "GITHUB_TOKEN", "JWT", "PRIVATE_KEY"]
    finally:
        casting.TAIL, casting.BATCH = saved


def test_a_crashed_recordings_raw_output_is_redacted_into_the_cast_on_resume(tmp_path):
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    cast.output(f"before the crash: {pw}\r\n".encode())
    cast.flush()
    cast._follower.stdin.close()  # the recorder is killed: its end of the pipe closes, the follower ends
    assert cast._follower.wait(timeout=60) == 0
    assert pw.encode() in (tmp_path / "terminal.cast.raw").read_bytes()

    r.learn(pw, "DB_PASSWORD")  # as the resumed recording reads back its store of values
    resumed = writer(tmp_path, r, append=True)
    resumed.output(b"after\r\n")
    resumed.close()
    assert shown(tmp_path / "terminal.cast") == "before the crash: <redacted:DB_PASSWORD>\r\nafter\r\n"
    assert_nothing_left(tmp_path)


def test_the_cast_is_redacted_by_a_process_of_its_own_which_sets_up_the_plugins_at_once(tmp_path):
    """The recorder's process neither scans the output nor imports detect-secrets for it (the relay
    keeps the interpreter to itself); the follower sets the plugins up before any output comes, so a
    first scan right at `exit` does not wait for them (0.1-0.3 s)."""
    program = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from recorder.capture.cast import CastWriter\n"
        "from recorder.secrets.redact import Redactor\n"
        f"cast = CastWriter(Path({str(tmp_path / 'terminal.cast')!r}), 80, 24, {{}}, redactor=Redactor())\n"
        "import os\n"
        "line = b''\n"
        "while not line.endswith(b'\\n'):\n"
        "    line += os.read(cast._follower.stdout.fileno(), 1)\n"
        "print(line.decode().strip(), 'detect_secrets' in sys.modules)\n"
        "cast.close()\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ['{"ready":', "true}", "False"], done.stderr


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def wait_until_ready(cast: CastWriter) -> None:
    """Until the follower has set up its scan (it says so first)."""
    reports: list[dict] = []

    def ready() -> bool:
        reports.extend(cast._read_reports())
        return any("ready" in r for r in reports)

    wait_for(ready, "the follower starts")


def test_a_flood_is_scanned_in_its_first_pause_and_a_token_at_its_very_end_is_redacted(tmp_path, small_scans):
    """Output that keeps coming faster than FLOW_PAUSE is left alone (a scan beside the relay slows it),
    then scanned in its first pause, before any prompt: a long burst followed by a prompt a second later
    leaves `exit` little to do. A token printed last, right before `exit`, is still found whole."""
    r = Redactor()
    token = fakes.github_token()
    cast = writer(tmp_path, r)
    header = cast.part_path.stat().st_size
    wait_until_ready(cast)
    line = b"compiling module %04d of the build, no secret on this line\r\n"
    count = 500
    for i in range(count):  # a line every millisecond or so: the output never pauses
        cast.output(line % i)
        cast._timing.flush()  # as a long burst fills the timing file's buffer
        time.sleep(cast_follower.FLOW_PAUSE / 50)
    assert cast.part_path.stat().st_size == header, "scanned while the output flooded"
    wait_for(lambda: cast.part_path.stat().st_size > header, "the follower scans in the first pause")
    cast.output(f"token {token[:9]}".encode())
    cast.output(f"{token[9:]} done\r\n".encode())
    cast.close()
    text = shown(tmp_path / "terminal.cast")
    assert token not in text and text.endswith("token <redacted:GITHUB_TOKEN> done\r\n")
    assert text.count("no secret on this line") == count
    assert_nothing_left(tmp_path)


def test_lines_written_as_scanned_are_cut_off_at_a_prompt_that_teaches_a_secret_in_them(tmp_path, small_scans):
    """What was scanned is written to the part before its prompt; when that prompt teaches a value it
    holds (typed for the command), the part is cut back to the last prompt and that output written again."""
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    data = f"$ mysql -p{pw} -e 'select * from big'\r\n" + "".join(f"row {i:04} | value\r\n" for i in range(40))
    cast.output(data.encode())
    cast._timing.flush()  # as a long burst fills the timing file's buffer
    wait_for(lambda: pw.encode() in cast.part_path.read_bytes(), "the follower writes lines as it scans them")
    spilled = cast.part_path.read_bytes()
    assert pw.encode() in spilled, "written as scanned, before the prompt taught the value"
    r.learn(pw, "MYSQL_PASSWORD")
    cast.flush()
    cast.close()
    text = shown(tmp_path / "terminal.cast")
    assert text == data.replace(pw, "<redacted:MYSQL_PASSWORD>")
    assert not cast.rewritten
    assert_nothing_left(tmp_path)


def test_a_long_backlog_at_close_is_left_to_the_follower_and_a_resume_waits_for_it(tmp_path, monkeypatch):
    """`exit` right after a long burst does not wait for its scan: the follower finishes the cast on
    its own (and removes the values' store); a resume meanwhile waits for it. The cast is as clean as
    ever: a value known before, a token printed last."""
    monkeypatch.setattr(casting, "WAIT", 0.0)
    monkeypatch.setattr(casting, "BACKLOG", 1 << 20)
    r = Redactor(tmp_path / "secrets.local.json")
    pw, token = fakes.password(), fakes.github_token()
    r.learn(pw, "DB_PASSWORD")
    cast = writer(tmp_path, r)
    cast.output(f"$ echo $DB_PASSWORD\r\n{pw}\r\n".encode())
    cast.flush()
    listing = "".join(f"-rw-r--r-- 1 root root {i:5} Jan  1 00:00 file{i}.conf\r\n" for i in range(1000)).encode()
    for _ in range(300):  # 15 MB
        cast.output(listing)
    cast.output(f"last: {token}\r\n".encode())
    cast.close(r.store)
    assert cast.detached and cast.backlog > 1 << 20
    assert (tmp_path / "terminal.cast.raw").exists(), "the follower is still at work"

    resumed = writer(tmp_path, r, append=True)  # waits for the follower's lock on the part
    assert shown(tmp_path / "terminal.cast").endswith("last: <redacted:GITHUB_TOKEN>\r\n"), "done before it"
    assert not r.store.exists()
    resumed.close()
    text = shown(tmp_path / "terminal.cast")
    assert pw not in text and token not in text
    assert text.startswith("$ echo $DB_PASSWORD\r\n<redacted:DB_PASSWORD>\r\n")
    assert text.count("file999.conf") == 300 and text.endswith("last: <redacted:GITHUB_TOKEN>\r\n")
    assert_nothing_left(tmp_path)


class _FullDisk:
    """A timing file on a disk that has just filled up: nothing more is written to it."""

    def __init__(self, timing):
        self.timing = timing

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        self.timing.flush()

    def close(self) -> None:
        self.timing.close()


def test_marks_a_full_disk_kept_out_of_the_timing_file_do_not_stop_the_cast(tmp_path):
    """The prompt's and the end's marks could not be written: the cast is still complete and clean, and
    close() does not wait for ever."""
    r = Redactor()
    pw = fakes.password()
    cast = writer(tmp_path, r)
    cast.output(f"$ export DB_PASSWORD={pw}\r\n".encode())
    cast._timing.flush()
    cast._timing = _FullDisk(cast._timing)
    r.learn(pw, "DB_PASSWORD")
    cast.flush()
    cast.close()
    assert shown(tmp_path / "terminal.cast") == "$ export DB_PASSWORD=<redacted:DB_PASSWORD>\r\n"
    assert not cast.detached
    assert_nothing_left(tmp_path)


def test_recording_over_a_session_waits_for_its_cast_to_be_finished(tmp_path, monkeypatch):
    """`record start --force` over a session whose cast is still being finished waits for that
    follower first: it would otherwise move the new recording's part over the cast and delete its raw
    output when it is done."""
    from recorder.capture import recording

    monkeypatch.setattr(casting, "WAIT", 0.0)
    monkeypatch.setattr(casting, "BACKLOG", 1 << 20)
    cast = writer(tmp_path, Redactor())
    listing = "".join(f"-rw-r--r-- 1 root root {i:5} Jan  1 00:00 file{i}.conf\r\n" for i in range(1000)).encode()
    for _ in range(300):
        cast.output(listing)
    cast.close()
    assert cast.detached
    recording._prepare_directory(tmp_path, force=True, resume=False)
    again = writer(tmp_path, Redactor())  # the new recording
    again.output(b"$ echo new\r\nnew\r\n")
    cast._follower.wait(timeout=60)  # had it not been waited for, it would now have taken the new files
    again.close()
    assert shown(tmp_path / "terminal.cast") == "$ echo new\r\nnew\r\n"
    assert not list(tmp_path.glob("terminal.cast.*"))
