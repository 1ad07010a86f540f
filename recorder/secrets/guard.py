"""The last check before a session becomes an image: nothing in it looks like a secret in the clear
(one typed into session.yaml by hand), and no error message shows one."""

from __future__ import annotations

import shlex
from pathlib import Path

from recorder.errors import RecorderError
from recorder.model.placeholders import PLACEHOLDER
from recorder.model.session import Session, active_steps, running_services
from recorder.secrets.detect import Hit, find_in_command, find_values, is_secret_name, plausible_value
from recorder.secrets.redact import Redactor


def refuse_unredacted(session: Session, file: Path) -> None:
    """A secret written into session.yaml by hand would be baked into the image: say where, not what.

    Only patterns that are secrets beyond doubt (named variables, tokens, keys, URL credentials): an
    entropy guess must never stop a build."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""

    def fail(value: str, where: str, kind: str) -> RecorderError:
        at = text.find(value)
        line = f":{text.count(chr(10), 0, at) + 1}" if at >= 0 else ""
        return RecorderError(
            f"{file}{line}: {where} holds what looks like a secret ({kind}); replace it with "
            "<redacted:NAME> and give it at run time (docker run --env-file)"
        )

    def variables(env: dict[str, str], where: str) -> None:
        for name, value in env.items():
            if PLACEHOLDER.search(value):
                continue
            if is_secret_name(name) and plausible_value(value):
                raise fail(value, f"{where}.{name}", "a secret's name")
            for hit in find_values(value, entropy=False):
                raise fail(value[hit.start : hit.end], f"{where}.{name}", hit.kind)

    for step in active_steps(session):
        variables(step.effects.env_set, f"step {step.id}: env_set")
        if step.replay == "run" and not step.effects.packages:
            for hit in _certain(find_in_command(step.command)):
                raise fail(step.command[hit.start : hit.end], f"step {step.id}: command", hit.kind)
    for service in running_services(session):
        variables(service.env, f"service {service.name}: env")
        joined = shlex.join(service.command)
        for hit in _certain(find_in_command(joined)):
            raise fail(joined[hit.start : hit.end], f"service {service.name}: command", hit.kind)


def _certain(hits: list[Hit]) -> list[Hit]:
    return [h for h in hits if "High Entropy" not in h.kind]


def scrub_message(message: str) -> str:
    """An error message as it may be shown: one line, without anything that looks like a secret."""
    flat = " ".join(message.split("\n"))
    try:
        return Redactor().text(flat)
    except Exception:  # noqa: BLE001 - a message must always be printable
        return flat
