"""Reviewing a session in a pull request: hand edits survive regeneration, show, diff, check and the pre-commit hook."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from recorder.errors import RecorderError
from recorder.review import revision
from tests.cli import RECORD as MODULE
from tests.cli import record

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sessions" / "web"


def example_copy(tmp_path: Path, name: str = "web") -> Path:
    d = tmp_path / "sessions" / name
    shutil.copytree(EXAMPLE, d)
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


# ---------------------------------------------------------------- hand edits and to-dockerfile


def test_hand_edits_to_session_yaml_survive_to_dockerfile_and_reach_the_dockerfile(tmp_path):
    d = example_copy(tmp_path)
    plan = d / "session.yaml"
    edit(plan, "schema: 1\n", "# Reviewed by ops: the page is served by the CDN now.\nschema: 1\n")
    edit(plan, "  base_image: debian:12\n", "  base_image: debian:12.8  # pinned by the platform team\n")
    edit(
        plan,
        "    replay: files\n    why: 'changed 1 file: copied from files/'\n",
        "    replay: skip  # CDN\n    why: 'changed 1 file: copied from files/'\n",
    )
    edit(
        plan,
        "      env_set:\n        APP_ENV: staging\n",
        "      env_set:\n        APP_ENV: staging\n        # an extra variable, by hand\n        APP_WORKERS: '4'\n",
    )
    before = plan.read_text()

    result = record("to-dockerfile", str(d))
    assert result.returncode == 0, result.stderr
    assert plan.read_text() == before  # every comment and edit, byte for byte
    dockerfile = (d / "Dockerfile").read_text()
    assert "FROM debian:12.8\n" in dockerfile
    assert "index.html" not in dockerfile  # step 3 is skipped now
    assert 'ENV APP_ENV="staging"\nENV APP_WORKERS="4"\n' in dockerfile
    assert record("check", str(d)).returncode == 0
    shown = record("show", str(d), "--json")
    steps = {s["id"]: s for s in json.loads(shown.stdout)["steps"]}
    assert steps[3]["replay"] == "skip" and steps[6]["how"] == "ENV APP_ENV, APP_WORKERS"


# ---------------------------------------------------------------- check


def test_check_fails_on_a_hand_edited_dockerfile_and_passes_after_regeneration(tmp_path):
    d = example_copy(tmp_path)
    assert record("check", str(d)).stdout == f"{d}: generated files are up to date\n"
    edit(d / "Dockerfile", 'ENV APP_ENV="staging"\n', 'ENV APP_ENV="staging"\nRUN echo tweaked by hand\n')

    result = record("check", str(d))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{d / 'Dockerfile'}: differs (not what session.yaml generates now)"
    assert "-RUN echo tweaked by hand" in lines
    assert lines[-1] == f"{d}: stale; run `record to-dockerfile {d}` and commit the result"

    report = json.loads(record("check", str(d), "--json").stdout)
    assert report["ok"] is False
    assert [(f["path"], f["state"]) for f in report["sessions"][0]["files"]] == [
        (".dockerignore", "up to date"),
        ("Dockerfile", "differs"),
    ]

    assert record("to-dockerfile", str(d)).returncode == 0
    result = record("check", str(d), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["ok"] is True


def test_check_fails_when_session_yaml_changed_but_was_not_regenerated(tmp_path):
    d = example_copy(tmp_path)
    edit(
        d / "session.yaml",
        "    replay: files\n    why: 'sets APP_ENV: ENV'",
        "    replay: skip\n    why: 'sets APP_ENV: ENV'",
    )
    result = record("check", str(d))
    assert result.returncode == 1
    assert '-ENV APP_ENV="staging"' in result.stdout.splitlines()


def test_check_finds_sessions_from_paths_and_flags_stale_scripts(tmp_path):
    web = example_copy(tmp_path)
    other = example_copy(tmp_path, "other")
    (tmp_path / "sessions" / "README.md").write_text("not a session\n")
    # no arguments: every session under ./sessions
    assert record("check", cwd=tmp_path).stdout.splitlines() == [
        "sessions/other: generated files are up to date",
        "sessions/web: generated files are up to date",
    ]
    # files, as pre-commit passes them: each names its session once; a file in no session is passed over
    result = record(
        "check", str(web / "files/var/www/html/index.html"), str(web / "Dockerfile"), "sessions/README.md", cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.splitlines() == [f"{web}: generated files are up to date"]
    (other / "replay").mkdir()
    (other / "replay" / "step-9.sh").write_text("#!/bin/bash\necho left behind\n")
    result = record("check", cwd=tmp_path)
    assert result.returncode == 1
    assert "sessions/other/replay/step-9.sh: stale (not what session.yaml generates now)" in result.stdout
    result = record("check", str(tmp_path))
    assert (
        result.returncode == 2
        and result.stderr
        == f"record: error: {tmp_path}/session.yaml: missing; is {tmp_path} a session recorded by `record start`?\n"
    )


def test_check_fails_while_the_cast_is_unfinished_and_says_why(tmp_path):
    """A cast still being written or cleaned (its part locked by the follower), or left by a crash,
    would be committed short of its output: check says so, and not that the Dockerfile is stale."""
    d = example_copy(tmp_path)
    part = d / "terminal.cast.part"
    part.write_text("")
    holder = subprocess.Popen(  # holds the lock as a follower does, until told to stop
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'rb'); fcntl.flock(f, fcntl.LOCK_EX);"
            " print('held', flush=True); sys.stdin.read()",
            str(part),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        result = record("check", str(d))
        assert result.returncode == 1
        assert result.stdout.splitlines() == [
            f"{d / 'terminal.cast'}: unfinished: still being written, or cleaned of secrets after exit: "
            "commit it when that is done"
        ]
    finally:
        holder.communicate("")
    result = record("check", str(d), "--json")  # the lock is gone with its holder: a crash's leftover
    assert result.returncode == 1
    assert json.loads(result.stdout)["sessions"][0]["files"][-1] == {
        "path": "terminal.cast",
        "state": "unfinished",
        "diff": "",
        "why": "left by a recording that did not end: `record resume` finishes it",
    }
    part.unlink()
    assert record("check", str(d)).returncode == 0


def test_the_pre_commit_hook_runs_check_on_the_sessions_of_changed_files(tmp_path):
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "record-check")
    assert hook["language"] == "python" and hook.get("pass_filenames", True)
    d = example_copy(tmp_path)
    changed = ["sessions/web/session.yaml", "sessions/web/files/var/www/html/index.html", "README.md"]
    (tmp_path / "README.md").write_text("a repository\n")
    selected = [f for f in changed if re.search(hook["files"], f)]
    assert selected == changed[:2]
    entry = shlex.split(hook["entry"])
    assert entry[:2] == ["record", "check"]

    def run_hook() -> subprocess.CompletedProcess:  # as pre-commit does: entry, args, then the file names
        args = [*MODULE, *entry[1:], *hook.get("args", []), *selected]
        return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)

    assert run_hook().returncode == 0
    edit(d / "session.yaml", "  base_image: debian:12\n", "  base_image: debian:12.8\n")
    result = run_hook()
    assert result.returncode == 1 and "-FROM debian:12\n+FROM debian:12.8\n" in result.stdout


# ---------------------------------------------------------------- show


def test_show_says_what_each_step_becomes_and_warns(tmp_path):
    d = example_copy(tmp_path)
    with open(d / "files/etc/nginx/sites-available/default", "a") as f:
        f.write("# edited after the recording\n")
    result = record("show", str(d))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "web: recorded on Debian GNU/Linux 12 (bookworm); FROM debian:12"
    assert "8 steps, 4 replayed:" in out
    assert re.search(
        r"^2 +run +apt-get install -y nginx +RUN apt-get install nginx=1\.22\.1-9\+deb12u9 \(\+10 dependencies\)",
        out,
        re.M,
    )
    assert re.search(r"^5 +skip +cp /srv/release/site.conf /etc/nginx/conf.d/ +left out: failed \(exit 1\)", out, re.M)
    assert "service: nginx as root in /root, exposes 8080: ENTRYPOINT ['/usr/sbin/nginx', '-g', 'daemon off;']" in out
    assert "verify will check: 1 port, 2 HTTP answers, 2 files, 11 packages, 1 env variable" in out
    assert (
        "warning: files/etc/nginx/sites-available/default was changed after recording (step 4): "
        "the image will not hold what staging had, and verify will say so"
    ) in out
    data = json.loads(record("show", str(d), "--json").stdout)
    assert data["packages"] == {"nginx": "1.22.1-9+deb12u9"} and data["dependencies"] == 8  # 2 recommends dropped
    assert data["service"]["exposed"] == [8080]
    assert [c["subject"] for c in data["verify"] if c["kind"] == "http"] == [
        "GET http://localhost:8080/",
        "GET http://localhost:8080/index.html",
    ]
    assert len(data["warnings"]) == 1


# ---------------------------------------------------------------- diff


def _changed_copy(tmp_path: Path) -> tuple[Path, Path]:
    a = example_copy(tmp_path, "a")
    b = example_copy(tmp_path, "b")
    plan = b / "session.yaml"
    edit(plan, "            nginx: 1.22.1-9+deb12u9\n", "            nginx: 1.22.1-9+deb12u10\n")
    edit(plan, "            libmnl0: 1.0.4-3\n", "")
    edit(plan, "            iproute2: 6.1.0-3\n", "            iproute2: 6.1.0-3\n            libjansson4: 2.14-2\n")
    edit(plan, "        APP_ENV: staging\n", "        APP_ENV: production\n")
    edit(plan, "      - port: 8080\n        address: '::'\n", "      - port: 8443\n        address: '::'\n")
    edit(
        plan,
        "    command: [/usr/sbin/nginx, -g, daemon off;]\n",
        "    command: [/usr/sbin/nginx, -g, daemon off; worker_processes 2;]\n",
    )
    (b / "files/var/www/html/index.html").write_text("<h1>hello from production</h1>\n")
    return a, b


def test_diff_reads_like_a_pr_comment(tmp_path):
    a, b = _changed_copy(tmp_path)
    result = record("diff", str(a), str(b))
    assert result.returncode == 0, result.stderr
    changed_page = (
        "- changed `/var/www/html/index.html` (content): file, sha256 30d64929491f, mode 0644, root:root"
        f" → file, sha256 {_sha(b)}, mode 0644, root:root"
    )
    assert (
        result.stdout
        == f"""### record diff: `{a}` → `{b}`

**Packages**

- added `libjansson4`: `2.14-2`
- removed `libmnl0` (was `1.0.4-3`)
- changed `nginx`: `1.22.1-9+deb12u9` → `1.22.1-9+deb12u10`

**Files**

{changed_page}

**Ports**

- added `8443`: `::`
- changed `8080`: `0.0.0.0, ::` → `0.0.0.0`

**Environment**

- changed `APP_ENV`: `staging` → `production`

**Entrypoint**

- changed `command`: `/usr/sbin/nginx -g daemon off;` → `/usr/sbin/nginx -g daemon off; worker_processes 2;`
"""
    )
    data = json.loads(record("diff", str(a), str(b), "--json").stdout)
    assert data["same"] is False
    assert data["packages"]["changed"] == [
        {"name": "nginx", "before": "1.22.1-9+deb12u9", "after": "1.22.1-9+deb12u10"}
    ]
    assert data["files"]["changed"][0]["what"] == ["content"]
    same = record("diff", str(a), str(a))
    assert same.stdout.endswith("No differences in what the image holds.\n")


def _sha(b: Path) -> str:
    return hashlib.sha256((b / "files/var/www/html/index.html").read_bytes()).hexdigest()[:12]


def test_diff_against_a_git_revision(tmp_path):
    repo = tmp_path / "repo"
    d = example_copy(repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "web"], check=True)
    edit(d / "session.yaml", "        APP_ENV: staging\n", "        APP_ENV: production\n")
    result = record("diff", "HEAD:sessions/web", "sessions/web", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "### record diff: `HEAD:sessions/web` → `sessions/web`"
    assert "- changed `APP_ENV`: `staging` → `production`" in result.stdout
    assert "Packages" not in result.stdout  # files/ came out of git whole: nothing else differs
    not_a_session = record("diff", "HEAD:sessions", "sessions/web", cwd=repo)
    assert not_a_session.returncode == 2
    assert not_a_session.stderr.startswith("record: error: HEAD:sessions/session.yaml: missing;")
    bad = record("diff", "nope:sessions/web", "sessions/web", cwd=repo)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(
        "record: error: nope:sessions/web: not a directory, and git could not read it as REV:PATH"
    )


def _tar_with(*members: tarfile.TarInfo) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf)


@pytest.mark.parametrize("has_data_filter", [True, False])
def test_a_revision_whose_links_leave_the_session_is_refused(tmp_path, monkeypatch, has_data_filter):
    """Python 3.11.2 (Debian 12's) has no tarfile "data" filter: the same rules are checked by hand."""
    if not has_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = tarfile.TarInfo("files/etc/app.conf")
    good.size = 3
    link = tarfile.TarInfo("files/etc/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
    revision._extract(_tar_with(good), tmp_path / "ok", "main:sessions/web")
    assert (tmp_path / "ok" / "files/etc/app.conf").read_bytes() == b"xxx"
    with pytest.raises(RecorderError, match="`files/etc/passwd` in that revision points outside"):
        revision._extract(_tar_with(good, link), tmp_path / "bad", "main:sessions/web")
    assert not (tmp_path / "bad" / "files/etc/passwd").is_symlink()
