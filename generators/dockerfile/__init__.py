"""Session -> Dockerfile, .dockerignore and replay scripts. Pure: same session, same bytes.

Every instruction is preceded by a comment naming the session step it comes from, so a reviewer can
trace each line back to what the operator typed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import replace

from generators.dockerfile import layers, supervisord, typed_lint
from generators.dockerfile.recommends import applied
from recorder.managers import registry
from recorder.model import image
from recorder.model.placeholders import ENV_FILE_EXAMPLE, PLACEHOLDER, Needs, names_in, needs
from recorder.model.session import FILES_DIR, FileChange, PackageChange, Session, Step

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


def generate(session: Session, base: str | None = None, relaxed: bool = False) -> dict[str, str]:
    """All generated files of a session, by path relative to the session directory."""
    files = {DOCKERFILE: render(session, base, relaxed), DOCKERIGNORE: dockerignore()}
    if len(image.running_services(session)) > 1:
        files[supervisord.CONF_FILE] = supervisord.render(image.running_services(session))
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


def _copy(f: FileChange) -> str:
    chown = "" if (f.owner, f.group) == ("root", "root") else f"--chown={f.owner}:{f.group} "
    src, dst = f.stored_at, f.path
    if any(c.isspace() for c in src):
        return f"COPY {chown}{json.dumps([src, dst])}"
    return f"COPY {chown}{src} {dst}"


IGNORE = "# hadolint ignore="
ONE_RUN_A_STEP = (
    "# Each recorded step is a RUN of its own, so a failing build names its step: hadolint's DL3059\n"
    "# (consecutive RUNs) is ignored where two follow each other."
)

AS_TYPED = (
    "# Commands replayed as the operator typed them keep their text: what hadolint says of how they are\n"
    "# written (quoting, ls, cd instead of WORKDIR) is ignored on their RUN rather than rewritten."
)

USER_BY_NAME = "# by name, as on staging: this image makes the user itself (its package, or a step above)"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.workdir = "/"
        self.after_run = False  # the last instruction written was a RUN
        self.as_typed = False  # a RUN replays a typed command whose lint findings are ignored

    def block(self, comment: str, instructions: list[str]) -> None:
        if instructions:
            self.lines.append("")
            self.lines.append(comment)
            for line in instructions:
                self._instruction(line)

    def _instruction(self, line: str) -> None:
        if line.startswith("#"):
            self.lines.append(line)
            return
        if line.startswith("RUN ") and self.after_run:
            if self.lines[-1].startswith(IGNORE):
                self.lines[-1] += ",DL3059"
            else:
                self.lines.append(IGNORE + "DL3059")
        self.lines.append(line)
        self.after_run = line.startswith("RUN ")

    def chdir(self, path: str) -> list[str]:
        if path == self.workdir:
            return []
        self.workdir = path
        return [f"WORKDIR {path}"]


def _env(step: Step) -> list[str]:
    out = _env_lines(step.effects.env_set)
    # ENV cannot delete a variable; an empty value is the closest an image can come.
    out += [f'ENV {name}=""' for name in step.effects.env_unset]
    return out


def _env_lines(variables: dict[str, str]) -> list[str]:
    return [
        f"# {name}: a secret, given at run time (docker run --env-file .env, see {ENV_FILE_EXAMPLE})"
        if PLACEHOLDER.search(value)
        else f"ENV {name}={_quote_env(value)}"
        for name, value in variables.items()
    ]


GROUP_MIN = 5  # from this many files one step wrote under one directory, copy the directory


class _Trees:
    """Per directory: which steps and owners the captured files below it have. An application
    unpacked under /opt becomes one COPY of its directory, not ten thousand COPY lines."""

    def __init__(self, session: Session, last: dict[str, int]):
        self.below: dict[str, set[tuple[int, str, str]]] = {}
        owners = {f.path: (f.owner, f.group) for st in session.steps for f in st.effects.files if f.kind == "file"}
        for path, step_id in last.items():
            if path not in owners:
                continue
            key = (step_id, *owners[path])
            parent = path.rsplit("/", 1)[0]
            while parent.count("/") >= 2:  # never a whole top-level directory such as /etc
                self.below.setdefault(parent, set()).add(key)
                parent = parent.rsplit("/", 1)[0]

    def group_of(self, f: FileChange, step_id: int) -> str | None:
        """The highest directory whose captured files all come from this step, with one owner."""
        best, parent = None, f.path.rsplit("/", 1)[0]
        while parent.count("/") >= 2:
            if self.below.get(parent) != {(step_id, f.owner, f.group)}:
                break
            best, parent = parent, parent.rsplit("/", 1)[0]
        return best


def _copy_dir(directory: str, sample: FileChange) -> str:
    chown = "" if (sample.owner, sample.group) == ("root", "root") else f"--chown={sample.owner}:{sample.group} "
    return f"COPY {chown}{json.dumps([f'{FILES_DIR}{directory}/', f'{directory}/'])}"


def _files(step: Step, last: dict[str, int], trees: _Trees | None = None) -> list[str]:
    out, shell = [], []
    copies = [f for f in step.effects.files if f.kind == "file" and last.get(f.path) == step.id]
    groups: dict[str, list[FileChange]] = {}
    if trees is not None and len(copies) >= GROUP_MIN:
        for f in copies:
            directory = trees.group_of(f, step.id)
            if directory:
                groups.setdefault(directory, []).append(f)
        groups = {d: fs for d, fs in groups.items() if len(fs) >= GROUP_MIN}
    group_of = {f.path: d for d, fs in groups.items() for f in fs}
    copied = {id(f) for f in copies}
    deleted = {f.path for f in step.effects.files if f.kind == "deleted"}
    emitted: set[str] = set()
    for f in step.effects.files:
        if id(f) in copied and f.secret:
            why = _one_line(f.secret)
            out.append(f"# {f.path} holds a secret ({why}): not copied; mount it at run time (docker run -v)")
        elif id(f) in copied:
            directory = group_of.get(f.path)
            if directory is None:
                out.append(_copy(f))
            elif directory not in emitted:
                emitted.add(directory)
                out.append(_copy_dir(directory, f))
        elif f.kind == "symlink":
            shell.append(f"ln -sfn {shlex.quote(f.target or '')} {shlex.quote(f.path)}")
        elif f.kind == "dir" and last.get(f.path) == step.id and not _made_by_copies(f, copies):
            shell.append(_make_dir(f))
        elif f.kind == "deleted" and os.path.dirname(f.path) not in deleted:  # rm -rf of its parent does
            shell.append(f"rm -rf {shlex.quote(f.path)}")
    if shell:
        out.append("RUN " + " \\\n && ".join(shell))
    return out


def _made_by_copies(directory: FileChange, copies: list[FileChange]) -> bool:
    """COPY makes a file's missing parents itself, as root with mode 0755: a directory like that, with
    a copied file inside, needs no line of its own."""
    plain = directory.mode in (None, 0o755) and (directory.owner, directory.group) == ("root", "root")
    return plain and any(f.path.startswith(directory.path + "/") for f in copies)


def _make_dir(f: FileChange) -> str:
    """A directory as staging had it: made if missing, its mode and owner set (install -d does both)."""
    mode = f" -m {f.mode:04o}" if f.mode is not None else ""
    owner = "" if (f.owner, f.group) == ("root", "root") else f" -o {f.owner} -g {f.group}"
    return f"install -d{mode}{owner} {shlex.quote(f.path)}"


def _chdir_for(change: PackageChange, w: _Writer) -> list[str]:
    """npm installs into the project directory it ran in."""
    return w.chdir(change.target) if change.manager == "npm" and change.target else []


def _run(session: Session, step: Step, w: _Writer, last: dict[str, int], relaxed: bool, trees: _Trees) -> list[str]:
    out: list[str] = []
    if step.effects.packages:
        # a manager's configuration the same line wrote (a .repo file, pip.conf) is in place before the install
        configs = [f for f in step.effects.files if f.kind == "file" and registry.configures(f.path)]
        out += _files(replace(step, effects=replace(step.effects, files=configs)), last)
        for change in step.effects.packages:
            out += _chdir_for(change, w) + registry.install(applied(session, change), relaxed)
    elif not step.command.strip():
        return ["# an empty command: nothing to run"]
    elif PLACEHOLDER.search(step.command):
        names = ", ".join(names_in(step.command))
        return [f"# needs {names} while building: secrets stay out of builds, so this step is left out"]
    else:
        out += w.chdir(step.cwd)
        if _needs_script(step):
            script = _script_path(step)
            target = f"/tmp/record-{script.replace('/', '-')}"
            out += [f"COPY {script} {target}", f"RUN bash {target} && rm -f {target}"]
        else:
            command = _without_sudo(step.command.strip())
            codes = typed_lint.possible_findings(command)
            if codes:
                w.as_typed = True
                out.append(IGNORE + ",".join(codes))
            out.append(f"RUN {command}")
    return out + _files(step, last, trees)  # what the command wrote besides its packages


SUDO = re.compile(r"^sudo(\s+-[A-Za-z]+(\s+(?!-)\S+)?)*\s+(?=\S)")


def _without_sudo(command: str) -> str:
    """Builds run as root already; `sudo` there is noise at best (hadolint DL3004)."""
    return SUDO.sub("", command, count=1) if "\n" not in command else command


def _uses_pipes(session: Session) -> bool:
    return any(s.replay == "run" and not s.effects.packages and "|" in s.command for s in session.steps)


def render(session: Session, base: str | None = None, relaxed: bool = False) -> str:
    """The Dockerfile; `relaxed` drops version pins (for when the mirror no longer has them)."""
    w = _Writer()
    w.lines.append(f'# Generated by `record to-dockerfile` from session "{_one_line(session.name)}".')
    w.lines.append("# Edit session.yaml and regenerate; changes made here are lost.")
    chosen = image.base_image(session, base)
    if image.end_of_life(chosen):
        w.lines += [
            f"# {chosen} reached its end of life in {image.end_of_life(chosen)}: no updates, and its package",
            "# mirrors are gone. Pick a maintained base of the same family with `record build --base IMAGE`",
            "# or `base_image:` under `host:` in session.yaml (for EL 7: a RHEL UBI, Rocky Linux or AlmaLinux).",
        ]
    w.lines.append(f"FROM {chosen}")
    w.lines.append(
        f"LABEL org.opencontainers.image.title={json.dumps(session.name)} io.record.session={json.dumps(session.name)}"
    )
    if _uses_pipes(session):
        w.lines.append('SHELL ["/bin/bash", "-o", "pipefail", "-c"]')
    grouped = layers.group(session)
    if not any(layer.host_packages for layer in grouped):
        _needed(session, w, relaxed)
    _secrets_note(needs(session), w)
    last = image.last_writers(session)
    trees = _Trees(session, last)
    for layer in grouped:
        step = layer.steps[0]
        if len(layer.steps) > 1 or layer.host_packages or layer.supervisor:
            body = []
            for change in layer.merged:
                body += _chdir_for(change, w) + registry.install(change, relaxed)
        elif step.replay == "run":
            body = _run(session, step, w, last, relaxed, trees)
        else:
            body = _files(step, last, trees)
        summary = [_summary(s) for s in layer.steps] + ([HOST_PACKAGES] if layer.host_packages else [])
        summary += [FOLDED_SUPERVISOR] if layer.supervisor else []
        w.block("\n".join(summary), body + _env(step))
    _entrypoint(session, w, supervisor_installed=any(layer.supervisor for layer in grouped))
    if any(line.startswith(IGNORE) and "DL3059" in line for line in w.lines):
        w.lines.insert(2, ONE_RUN_A_STEP)
    if w.as_typed:
        w.lines.insert(2, AS_TYPED)
    return "\n".join(w.lines) + "\n"


NO_PIN = "# supervisor was not on the staging host, so there is no version to pin"
FOLDED_SUPERVISOR = "# and supervisor, which runs the services"


def _supervisor_install(session: Session) -> list[str]:
    """supervisord itself, unless the session installed it; it was not on the host, so no pin."""
    if not layers.needs_supervisor(session):
        return []
    return [NO_PIN, *registry.install_unpinned(session.host.os_id, ["supervisor"])]


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


def _entrypoint(session: Session, w: _Writer, supervisor_installed: bool = False) -> None:
    services = image.running_services(session)
    if not services:
        return
    ports = [str(p) for p in image.exposed_ports(session)] + [f"{p}/udp" for p in image.exposed_udp_ports(session)]
    volumes = image.volumes(session)
    out = [f"EXPOSE {' '.join(ports)}"] if ports else []
    if volumes:
        out.append(f"VOLUME {json.dumps(volumes)}")
    if len(services) == 1:
        service = services[0]
        out += w.chdir(service.cwd)
        out += _env_lines(dict(sorted(service.env.items())))
        if service.user not in ("root", "0"):
            out += [USER_BY_NAME, IGNORE + "DL3066", f"USER {service.user}"]
        out.append(f"ENTRYPOINT {json.dumps(_entrypoint_argv(service.command))}")
        w.block(f"# service: {service.name}, in the foreground", out)
        return
    names = ", ".join(s.name for s in services)
    install = [] if supervisor_installed else _supervisor_install(session)
    out = install + [f"COPY {supervisord.CONF_FILE} {supervisord.CONF_PATH}"] + out
    out.append(f"ENTRYPOINT {json.dumps(supervisord.ENTRYPOINT)}")
    w.block(f"# services: {names}, under supervisord (each in the foreground, logs to stdout)", out)


HOST_PACKAGES = "# and the packages the staging host already had, which the commands and services need"


def _needed(session: Session, w: _Writer, relaxed: bool) -> None:
    """Packages the host had before recording that the replay needs, in a layer of their own when no
    apt install can take them (layers.group): early, they change least."""
    if session.host.needed_packages:
        change = PackageChange(manager="apt", installed=dict(session.host.needed_packages))
        w.block(
            "# packages the staging host already had, which the commands and services below need",
            registry.install(applied(session, change), relaxed),
        )
