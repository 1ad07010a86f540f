"""How fast the terminal's output is scanned for secrets: ms per MB of find_values(tokens_only), and of
the whole Redactor.spans that the cast calls, now and with the old prefilter (a gate, then each
needle looked for with `in` over the text, case-blind ones in the lowered text when it is ASCII), on
real output made here (`ls -lR` and `find -ls`, up to --mb MB; and the same with fake tokens in it) and
on bench/exit.py's line, in chunks of 1 MB as the cast scans them. Both must find the same hits; the
ratio is old / new.

    .venv/bin/python bench/scan.py [--mb 30] [--rounds 3] [--text FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import string
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recorder.secrets import detect, redact  # noqa: E402

CHUNK = 1 << 20  # characters a call, as the cast's BATCH
LINE = "0123456789 the quick brown fox jumps over the lazy dog 0123456789\n"  # bench/exit.py's


def real_output(megabytes: int) -> str:
    """What listing this machine's files prints, cut at `megabytes` MB."""
    limit = megabytes << 20
    script = "ls -lR /usr /var/lib /etc; find / -xdev -ls"
    with subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        data = proc.stdout.read(limit)
        proc.kill()
    return data.decode("utf-8", "replace")


def with_tokens(text: str, every: int = 100_000) -> str:
    """The text with a line of fake tokens (split literals, so no scanner takes this file for a
    secret) after a line break every `every` characters: both scans must find the same hits."""
    chance = random.Random(7)

    def pick(alphabet: str, n: int) -> str:
        return "".join(chance.choice(alphabet) for _ in range(n))

    upper, alnum = string.ascii_uppercase + string.digits, string.ascii_letters + string.digits
    tokens = [
        "AK" + "IA" + pick(upper, 16),
        "gh" + "p_" + pick(alnum, 36),
        ("xo" + "xb-" + pick(string.digits, 12) + "-" + pick(string.digits, 13) + "-" + pick(alnum, 24)).upper(),
        "https://deploy:" + pick(alnum, 12) + "@git.example.com/app.git",
        "sk" + "_live_" + pick(alnum, 24),
        "-----BEGIN RSA PRIVATE" + " KEY-----\n" + pick(alnum, 64) + "\n-----END RSA PRIVATE" + " KEY-----",
    ]
    out, pos = [], 0
    while pos < len(text):
        cut = text.find("\n", pos + every)
        cut = len(text) if cut < 0 else cut + 1
        out += [text[pos:cut], " ".join(tokens), "\n"]
        pos = cut
    return "".join(out)


def old_find_values(text: str, entropy: bool = False, tokens_only: bool = True) -> list[detect.Hit]:
    """find_values as it was: every needle looked for on its own (the reference)."""
    assert not entropy
    hits: list[detect.Hit] = []
    present: dict[str, bool] = {}
    lowered = None
    for plugin, searches in detect._searches():
        if tokens_only and type(plugin).__name__ not in detect.TOKEN_PLUGINS:
            continue
        for search in searches:
            if search.gate and not any(_holds(text, ch, present) for ch in search.gate):
                continue
            if search.needle and not search.folded and search.needle not in text:
                continue
            if search.needle and search.folded and text.isascii():
                lowered = text.lower() if lowered is None else lowered
                if search.needle not in lowered:
                    continue
            hits += detect.search_hits(plugin, search, text, everywhere=True)
    return hits


def _holds(text: str, char: str, present: dict[str, bool]) -> bool:
    if char not in present:
        present[char] = char in text
    return present[char]


def new_find_values(text: str, entropy: bool = False, tokens_only: bool = True) -> list[detect.Hit]:
    return detect.find_values(text, entropy=entropy, tokens_only=tokens_only)


def spans_with(find_values) -> object:
    """Redactor().spans with this find_values in it."""
    saved = redact.find_values
    redact.find_values = find_values

    def spans(text: str):
        redact.find_values = find_values
        try:
            return redactor.spans(text)
        finally:
            redact.find_values = saved

    redactor = redact.Redactor()
    redactor.learn("fake" + "known-value-1", "DB_PASSWORD")  # one known value, as after a typed secret
    return spans


def ms_per_mb(scans: list, chunks: list[str], rounds: int) -> list[tuple[float, list]]:
    """For each scan, the best of `rounds` runs over all chunks in ms per MB (CPU time: the machine
    is shared), and what it found; the scans take turns, so all see the same machine."""
    best, found = [float("inf")] * len(scans), [[] for _ in scans]
    megabytes = sum(len(c) for c in chunks) / (1 << 20)
    for _ in range(rounds):
        for i, scan in enumerate(scans):
            start = time.process_time()
            found[i] = [scan(chunk) for chunk in chunks]
            best[i] = min(best[i], (time.process_time() - start) * 1000 / megabytes)
    return list(zip(best, found, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--text", help="a file of output to measure too")
    args = parser.parse_args()
    detect.warm_up()
    real = real_output(args.mb)
    synthetic = LINE * ((args.mb << 20) // len(LINE))
    texts = [
        ("real output (ls -lR, find -ls)", real),
        ("the same with tokens every 100 KB", with_tokens(real)),
        ("bench/exit.py's line", synthetic),
    ]
    if args.text:
        with open(args.text, encoding="utf-8", errors="replace") as f:
            texts.append((args.text, f.read(args.mb << 20)))
    for name, text in texts:
        chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
        kind = "ASCII" if text.isascii() else "not ASCII"
        print(f"{name}: {len(text) / (1 << 20):.1f} MB, {kind}, {len(chunks)} chunks")
        for what, old, new in (
            ("find_values(tokens_only)", old_find_values, new_find_values),
            ("Redactor.spans", spans_with(old_find_values), spans_with(new_find_values)),
        ):
            (before, old_hits), (after, new_hits) = ms_per_mb([old, new], chunks, args.rounds)
            assert old_hits == new_hits, (what, old_hits, new_hits)
            print(
                f"  {what:25} old {before:6.2f} ms/MB   new {after:6.2f} ms/MB   "
                f"{before / after:4.1f}x faster   ({sum(map(len, new_hits))} hits)"
            )


if __name__ == "__main__":
    main()
