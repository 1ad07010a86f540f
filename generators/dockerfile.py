"""Session -> Dockerfile, .dockerignore and replay scripts. Pure: same session, same bytes.

Every instruction is preceded by a comment naming the session step it comes from, so a reviewer can
trace each line back to what the operator typed.
"""

from __future__ import annotations

import json
import shlex

from recorder.placeholders import ENV_FILE_EXAMPLE, PLACEHOLDER, Needs, names_in, needs
from recorder.session import FileChange, PackageChange, Session, Step

DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
REPLAY_DIR = "replay"

# Files in a session directory that must never enter the build context.
NOT_IN_CONTEXT = (
    "session.yaml",
    "session.yaml.tmp",
    "journal.ndjson",
    "terminal.cast",
    "terminal.cast.raw",
    "terminal.cast.timing",
    "secrets.local.json",
    "secrets.local.json.tmp",
    ".env",
)

APT_CLEAN = "rm -rf /var/lib/apt/lists/*"


def generate(session: Session, base: str | None = None) -> dict[str, str]:
    """All generated files of a session, by path relative to the session directory."""
    files = {DOCKERFILE: render(session, base), DOCKERIGNORE: dockerignore()}
    files.update(replay_scripts(session))
    example = env_example(session)
    if example:
        files[ENV_FILE_EXAMPLE] = example
    return files


def env_example(session: Session) -> str:
    """What the image must be given at run time, as a file to copy to .env and fill in; '' when nothing."""
    wanted = needs(session)
    if not wanted:
        return ""
    lines = [
        f'# Secrets the image of session "{session.name}" needs at run time. They were never recorded and are',
        "# not in the image. Copy this file to .env (never commit it), fill in the values, then:",
        "#   docker run --env-file .env IMAGE",
    ]
    for name, shape in wanted.env.items():
        if shape:
            lines.append(f"# recorded as {_one_line(shape)} : put the whole value, its secret part filled in")
        lines.append(f"{name}=")
    for path, why in wanted.files.items():
        lines.append(f"# {path} holds a secret ({_one_line(why)}); mount yours: docker run -v /path/to/it:{path}:ro")
    for step_id, names in wanted.left_out.items():
        lines.append(f"# step {step_id} needs {', '.join(names)} while building; it is left out of the image")
    return "\n".join(lines) + "\n"


def dockerignore() -> str:
    return "".join(f"{name}\n" for name in NOT_IN_CONTEXT)


def base_image(session: Session, base: str | None = None) -> str:
    return base or session.host.base_image or "debian:12"


def _one_line(text: str) -> str:
    """Text for a comment: a line break in it would start an instruction nobody reviewed."""
    return " ".join(text.splitlines())


def _summary(step: Step, limit: int = 100) -> str:
    first = step.command.strip().splitlines()[0] if step.command.strip() else ""
    more = len(step.command.strip().splitlines()) > 1 or len(first) > limit
    return f"# step {step.id}: {_one_line(first[:limit])}{' …' if more else ''}"


def _quote_env(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("$", "\\$")


def _script_path(step: Step) -> str:
    return f"{REPLAY_DIR}/step-{step.id}.sh"


def _needs_script(step: Step) -> bool:
    """A multi-line command, or one ending in a backslash (in a RUN line it would swallow the next line)."""
    return "\n" in step.command.strip() or step.command.rstrip().endswith("\\")


def replay_scripts(session: Session) -> dict[str, str]:
    """Multi-line commands (heredocs, loops) cannot live in a RUN line; they run from a script."""
    return {
        _script_path(s): "#!/bin/bash\nset -e\n" + s.command.strip() + "\n"
        for s in session.steps
        if s.replay == "run" and not s.effects.packages and _needs_script(s) and not PLACEHOLDER.search(s.command)
    }


def _apt_run(change: PackageChange) -> list[str]:
    wanted = change.installed or change.dependencies
    lines = []
    if wanted:
        pins = [f"{name}={version}" for name, version in sorted(wanted.items())]
        lines.append("# hadolint ignore=DL3015")  # the host installed recommended packages; so does the image
        body = " \\\n      ".join(pins)
        lines.append(
            "RUN apt-get update \\\n"
            f" && DEBIAN_FRONTEND=noninteractive apt-get install -y \\\n      {body} \\\n"
            f" && {APT_CLEAN}"
        )
    if change.removed:
        lines.append("RUN apt-get purge -y " + " ".join(sorted(change.removed)))
    return lines


PACKAGE_RUNNERS = {"apt": _apt_run}


def _copy(f: FileChange) -> str:
    chown = "" if (f.owner, f.group) == ("root", "root") else f"--chown={f.owner}:{f.group} "
    src, dst = f.stored_at, f.path
    if any(c.isspace() for c in src):
        return f"COPY {chown}{json.dumps([src, dst])}"
    return f"COPY {chown}{src} {dst}"


def _last_writer(session: Session) -> dict[str, int]:
    """For each captured path, the last step that reproduces it by copying: only that one copies."""
    last: dict[str, int] = {}
    for step in session.steps:
        if step.replay == "files":
            for f in step.effects.files:
                last[f.path] = step.id
    return last


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.workdir = "/"

    def block(self, comment: str, instructions: list[str]) -> None:
        if instructions:
            self.lines.append("")
            self.lines.append(comment)
            self.lines.extend(instructions)

    def chdir(self, path: str) -> list[str]:
        if path == self.workdir:
            return []
        self.workdir = path
        return [f"WORKDIR {path}"]


def _env(step: Step) -> list[str]:
    out = [
        f"# {name}: a secret, given at run time (docker run --env-file .env, see {ENV_FILE_EXAMPLE})"
        if PLACEHOLDER.search(value)
        else f"ENV {name}={_quote_env(value)}"
        for name, value in step.effects.env_set.items()
    ]
    # ENV cannot delete a variable; an empty value is the closest an image can come.
    out += [f'ENV {name}=""' for name in step.effects.env_unset]
    return out


def _files(step: Step, last: dict[str, int]) -> list[str]:
    out, shell = [], []
    for f in step.effects.files:
        if last.get(f.path) != step.id and f.kind == "file":
            continue
        if f.kind == "file" and f.secret:
            why = _one_line(f.secret)
            out.append(f"# {f.path} holds a secret ({why}): not copied; mount it at run time (docker run -v)")
        elif f.kind == "file":
            out.append(_copy(f))
        elif f.kind == "symlink":
            shell.append(f"ln -sfn {shlex.quote(f.target or '')} {shlex.quote(f.path)}")
        elif f.kind == "deleted":
            shell.append(f"rm -rf {shlex.quote(f.path)}")
    if shell:
        out.append("RUN " + " \\\n && ".join(shell))
    return out


def _run(step: Step, w: _Writer) -> list[str]:
    if step.effects.packages:
        out: list[str] = []
        for change in step.effects.packages:
            out += PACKAGE_RUNNERS.get(change.manager, _unsupported)(change)
        return out
    if not step.command.strip():
        return ["# an empty command: nothing to run"]
    if PLACEHOLDER.search(step.command):
        names = ", ".join(names_in(step.command))
        return [f"# needs {names} while building: secrets stay out of builds, so this step is left out"]
    out = w.chdir(step.cwd)
    if _needs_script(step):
        script = _script_path(step)
        target = f"/tmp/record-{script.replace('/', '-')}"
        out += [f"COPY {script} {target}", f"RUN bash {target} && rm -f {target}"]
    else:
        out.append(f"RUN {step.command.strip()}")
    return out


def _unsupported(change: PackageChange) -> list[str]:
    names = _one_line(" ".join(sorted(change.installed)))
    return [f"# packages from `{_one_line(change.manager)}` are not replayed yet: {names}"]


def _uses_pipes(session: Session) -> bool:
    return any(s.replay == "run" and not s.effects.packages and "|" in s.command for s in session.steps)


def render(session: Session, base: str | None = None) -> str:
    w = _Writer()
    w.lines.append(f'# Generated by `record to-dockerfile` from session "{_one_line(session.name)}".')
    w.lines.append("# Edit session.yaml and regenerate; changes made here are lost.")
    w.lines.append(f"FROM {base_image(session, base)}")
    w.lines.append(
        f"LABEL org.opencontainers.image.title={json.dumps(session.name)} io.record.session={json.dumps(session.name)}"
    )
    if _uses_pipes(session):
        w.lines.append('SHELL ["/bin/bash", "-o", "pipefail", "-c"]')
    _secrets_note(needs(session), w)
    last = _last_writer(session)
    for step in session.steps:
        if step.replay == "skip":
            continue
        body = _run(step, w) if step.replay == "run" else _files(step, last)
        w.block(_summary(step), body + _env(step))
    _entrypoint(session, w)
    return "\n".join(w.lines) + "\n"


def _secrets_note(wanted: Needs, w: _Writer) -> None:
    if not wanted:
        return
    w.lines.append("")
    w.lines.append(f"# Secrets are never in this image; give them at run time (see {ENV_FILE_EXAMPLE}):")
    if wanted.env:
        w.lines.append(f"#   docker run --env-file .env ...   ({', '.join(wanted.env)})")
    for path in wanted.files:
        w.lines.append(f"#   docker run -v /path/to/your/copy:{path}:ro ...")


def _shell_word(arg: str) -> str:
    """An argument for `sh -c`, its placeholders read from the environment when the container starts."""
    out, pos = [], 0
    for m in PLACEHOLDER.finditer(arg):
        out.append(shlex.quote(arg[pos : m.start()]) if m.start() > pos else "")
        out.append(f'"${{{m.group(1)}}}"')
        pos = m.end()
    if pos < len(arg) or not out:
        out.append(shlex.quote(arg[pos:]))
    return "".join(out)


def _entrypoint_argv(command: list[str]) -> list[str]:
    if not any(PLACEHOLDER.search(a) for a in command):
        return command
    return ["/bin/sh", "-c", "exec " + " ".join(_shell_word(a) for a in command)]


def _entrypoint(session: Session, w: _Writer) -> None:
    if not session.services:
        return
    service = session.services[0]
    ports = sorted({p.port for s in session.services for p in s.ports if p.public})
    out = [f"EXPOSE {' '.join(str(p) for p in ports)}"] if ports else []
    out += w.chdir(service.cwd)
    if service.user not in ("root", "0"):
        out.append(f"USER {service.user}")
    out.append(f"ENTRYPOINT {json.dumps(_entrypoint_argv(service.command))}")
    w.block(f"# service: {service.name}, in the foreground", out)
    for other in session.services[1:]:
        text = _one_line(f"{other.name} {' '.join(other.command)}")
        w.lines.append(f"# not started (one service per image for now): {text}")
