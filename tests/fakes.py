"""Fake secrets for tests, built at run time: random, obviously fake, yet shaped so the detectors
(detect-secrets' plugins) recognise them. No literal here looks like a secret to a scanner."""

from __future__ import annotations

import base64
import json
import secrets
import string

ALNUM = string.ascii_letters + string.digits


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def password() -> str:
    return "fake" + _pick(ALNUM, 14)


def aws_access_key_id() -> str:
    return "AK" + "IA" + _pick(string.ascii_uppercase + string.digits, 16)


def aws_secret_access_key() -> str:
    return _pick(ALNUM + "/+", 40)


def github_token() -> str:
    return "gh" + "p_" + _pick(ALNUM, 36)


def gitlab_token() -> str:
    return "gl" + "pat-" + _pick(ALNUM, 20)


def slack_token() -> str:
    return (
        "xo"
        + "xb-"
        + _pick(string.digits, 12)
        + "-"
        + _pick(string.digits, 13)
        + "-"
        + _pick(string.ascii_lowercase + string.digits, 24)
    )


def jwt() -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return (
        part({"alg": "HS256", "typ": "JWT"})
        + "."
        + part({"sub": "fake-" + _pick(ALNUM, 8)})
        + "."
        + _pick(ALNUM + "-_", 43)
    )


def private_key() -> str:
    kind = "RSA PRIVATE" + " KEY"
    body = "\n".join(_pick(ALNUM + "+/", 64) for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def high_entropy() -> str:
    """Random enough for detect-secrets' limit (4.5 bits a character): at 40 characters about one
    draw in seventy falls under it and is, by that definition, not a high-entropy string."""
    return _pick(ALNUM + "+/", 64)
