"""Accounts: useradd and friends manage /etc/passwd, /etc/group and /etc/shadow as a package manager
manages its database, so a step that runs them is replayed by running them again, never by copying
those files over the image's own (the base image has accounts of its own)."""

from __future__ import annotations

from recorder.model import commandline

USER_MANAGEMENT = frozenset(
    {
        "useradd",
        "adduser",
        "groupadd",
        "addgroup",
        "usermod",
        "groupmod",
        "userdel",
        "deluser",
        "groupdel",
        "delgroup",
        "gpasswd",
        "chage",
    }
)


def manages_users(command: str) -> bool:
    """useradd and friends: replayed by running them, never by copying /etc/passwd over the image's."""
    return any(commandline.basename(w[0]) in USER_MANAGEMENT for w in commandline.commands(command))
