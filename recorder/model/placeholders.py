"""`<redacted:NAME>`: what a session holds where a secret was, and what the image must be given at run time.

Pure and small on purpose: capture writes placeholders (recorder/secrets/), the generators and the
summary read them back from the Session to ask for each secret at run time instead of baking it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from recorder.model.session import Session, active_steps, running_services

PLACEHOLDER = re.compile(r"<redacted:([A-Za-z_][A-Za-z0-9_]*)>")
ENV_FILE_EXAMPLE = ".env.example"


def placeholder(name: str) -> str:
    return f"<redacted:{name}>"


def names_in(text: str) -> list[str]:
    """Placeholder names in a text, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def whole(value: str) -> str | None:
    """The name when the value is nothing but one placeholder."""
    match = PLACEHOLDER.fullmatch(value)
    return match.group(1) if match else None


@dataclass
class Needs:
    """What the image must be given when it runs, because the session never held it."""

    env: dict[str, str] = field(default_factory=dict)  # variable -> its recorded shape ("" when all secret)
    files: dict[str, str] = field(default_factory=dict)  # path in the image -> why it was not copied
    left_out: dict[int, list[str]] = field(default_factory=dict)  # step -> secrets it needs at build time

    def __bool__(self) -> bool:
        return bool(self.env or self.files or self.left_out)


def needs(session: Session) -> Needs:
    """What a session asks for at run time: secret variables, secret files, steps left out for a secret."""
    out = Needs()
    for step in active_steps(session):
        for name, value in step.effects.env_set.items():
            if PLACEHOLDER.search(value):
                out.env[name] = "" if whole(value) else value
        if step.replay == "files":
            for f in step.effects.files:
                if f.secret and f.kind == "file":
                    out.files[f.path] = f.secret
        elif not step.effects.packages and PLACEHOLDER.search(step.command):
            out.left_out[step.id] = names_in(step.command)
    for service in running_services(session):
        for arg in service.command:
            for name in names_in(arg):
                out.env.setdefault(name, "")
        for name, value in service.env.items():
            if PLACEHOLDER.search(value):
                out.env.setdefault(name, "" if whole(value) else value)
    return out
