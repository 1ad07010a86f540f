"""What every match of a regex holds, read from the pattern as re parses it, and which of many such
texts (needles) a long text holds, found in a few fast passes instead of one pass each.

This is what keeps scanning a terminal's output for detect-secrets' token patterns cheap (bench/scan.py):
a pattern whose needle a text does not hold cannot match in it, so it is not run. Python's re has no
search for many strings at once; what it does fast is a pattern that starts with plain text, and
`str.find` of one character (memchr).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import string
from dataclasses import dataclass


def required_text(regex: re.Pattern) -> str:
    """The longest run of plain characters that every match of `regex` holds, "" when none is known.

    A text without it holds no match, and a search for plain text says so many times faster than the
    regex engine, which searches character by character when a pattern does not start with plain
    text (Slack's and Stripe's do not: without this, they were most of the time a megabyte of
    terminal output took).
    Read from the pattern as the re module parses it; only characters at its top level count, which
    every match holds in that order (nothing inside a group, a repeat or an alternative)."""
    return _required(regex)[0]


def needle_lead(regex: re.Pattern) -> int | None:
    """How far before its required text (see `required_text`) every match of `regex` starts, when
    what comes before it has one width (Stripe's `(?:r|s)k_live_`: 1); None when not known."""
    needle, tree = _required(regex)
    if not needle:
        return None
    lo, hi = tree.getwidth()
    return lo if lo == hi else None


def required_texts(regex: re.Pattern) -> tuple[str, ...]:
    """Texts one of which every match of `regex` holds, the longest such set known (the shortest of
    them the longest, then the fewest); () when none. `(ghp|gho)_x`: ghp_x and gho_x. Read from the
    top level of the pattern, groups and alternatives of plain text included."""
    try:
        from re import _parser

        tree = _parser.parse(regex.pattern, regex.flags)
    except Exception:  # noqa: BLE001 - another Python's parser: nothing known
        return ()
    runs = [run for run in _runs(_flat(tree)) if "" not in run]
    best = max(runs, key=lambda run: (min(map(len, run)), -len(run)), default=set())
    return tuple(sorted(best))


ALTERNATIVES_MAX = 16  # texts in a set at most


def _flat(items) -> list:
    """The items of a pattern with its plain groups opened: each is matched once, in order."""
    from re import _constants as c

    out = []
    for op, arg in items:
        if op is c.SUBPATTERN and not arg[1] and not arg[2]:
            out += _flat(arg[3])
        else:
            out.append((op, arg))
    return out


def _chars(op, arg) -> list[str] | None:
    """The characters one item of a pattern stands for, when it is one of a few plain ones."""
    from re import _constants as c

    if op is c.LITERAL:
        return [chr(arg)]
    if op is c.IN and len(arg) <= 8 and all(o is c.LITERAL for o, _ in arg):
        return [chr(a) for _, a in arg]
    return None


def _runs(items) -> list[set[str]]:
    """Sets of texts, one of which each match holds: runs of plain characters, classes of a few and
    alternatives of plain text (an alternative that goes on with more than plain text ends the run)."""
    from re import _constants as c

    runs, current = [], {""}
    for op, arg in items:
        chars = _chars(op, arg)
        ends = False
        if chars is None and op is c.BRANCH:
            chars = []
            for branch in arg[1]:
                texts = {""}
                for o, a in _flat(branch):
                    more = _chars(o, a)
                    if more is None:
                        ends = True
                        break
                    texts = {t + m for t in texts for m in more}
                chars += texts
        if chars is None or len(current) * len(chars) > ALTERNATIVES_MAX:
            runs.append(current)
            current = {""}
            continue
        current = {t + ch for t in current for ch in chars}
        if ends:
            runs.append(current)
            current = {""}
    runs.append(current)
    return runs


def starts_plain(regex: re.Pattern) -> bool:
    """Whether a pattern starts with a plain character, which re looks for fast (not with a class,
    an alternative or an assertion)."""
    try:
        from re import _constants, _parser

        items = _flat(_parser.parse(regex.pattern, regex.flags))
    except Exception:  # noqa: BLE001 - another Python's parser
        return False
    return bool(items) and items[0][0] is _constants.LITERAL


def _required(regex: re.Pattern):
    """required_text, and the part of the parsed pattern before it ("", None when none is known)."""
    try:
        from re import _constants, _parser

        tree = _parser.parse(regex.pattern, regex.flags)
    except Exception:  # noqa: BLE001 - another Python's parser: no shortcut, the regex searches everything
        return "", None
    best = run = ""
    best_at = start = 0
    for i, (op, arg) in enumerate(tree):
        if op is _constants.LITERAL:
            start = i if not run else start
            run += chr(arg)
            if len(run) > len(best):
                best, best_at = run, start
        else:
            run = ""
    return best, tree[:best_at]


# How often a character shows in a terminal's output, roughly: a gate of rarer characters is absent
# from more texts. Lower-case letters, digits, blanks and the punctuation of paths and versions are
# everywhere; capitals less so; other punctuation least.
COMMON_CHARS = frozenset(string.ascii_lowercase + string.digits + " \t\r\n.-/_:")
GATE_MAX = 4  # characters in a gate at most: each is one more pass over the text


def _commonness(chars: frozenset[str]) -> int:
    return sum(3 if c in COMMON_CHARS else 2 if c in string.ascii_uppercase else 1 for c in chars)


def required_chars(regex: re.Pattern) -> frozenset[str]:
    """Characters one of which every match of `regex` holds, the rarest such set known; empty when none.

    `c in text` for one character is a memchr, several times faster than the search for a longer
    needle: a text that holds none of a gate's characters is ruled out at that cost, and the bench's
    output (letters, digits, spaces) holds none of most gates. Read from the pattern as the re module
    parses it: a character or a class of a few characters that the pattern, a group or a repeat of
    at least once holds, or that every alternative holds. Letters do not count when case is ignored
    (re folds K, ſ and ı onto ASCII letters too)."""
    try:
        from re import _parser

        tree = _parser.parse(regex.pattern, regex.flags)
    except Exception:  # noqa: BLE001 - another Python's parser: no gate, the needle or the regex decides
        return frozenset()
    gates = _gates(tree, bool(regex.flags & re.IGNORECASE))
    return min(gates, key=lambda g: (_commonness(g), sorted(g)), default=frozenset())


def _gates(tree, folded: bool) -> set[frozenset[str]]:
    from re import _constants as c

    out: set[frozenset[str]] = set()
    for op, arg in tree:
        if op is c.LITERAL:
            chars = frozenset({chr(arg)})
        elif op is c.IN and arg and all(o is c.LITERAL for o, _ in arg):
            chars = frozenset(chr(a) for _, a in arg)
        elif op is c.SUBPATTERN:
            _, add, remove, sub = arg
            out |= _gates(sub, (folded or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE)
            continue
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[0] >= 1:
            out |= _gates(arg[2], folded)
            continue
        elif op is c.BRANCH:
            singles = [{g for g in _gates(branch, folded) if len(g) == 1} for branch in arg[1]]
            out |= set.intersection(*singles) if singles else set()
            continue
        else:
            continue
        if len(chars) <= GATE_MAX and not (folded and any(ch.isalpha() or not ch.isascii() for ch in chars)):
            out.add(chars)
    return out


# What re, ignoring case, also takes for an ASCII character: İ and ı for i, ſ for s, the Kelvin sign
# for k (the tests check this against every character there is).
FOLDS_BEYOND_ASCII = "\u0130\u0131\u017f\u212a"


def variants(char: str) -> tuple[str, ...]:
    """The characters an ASCII `char` matches when case is ignored, as re matches them."""
    exact = re.compile(re.escape(char), re.IGNORECASE)
    return tuple(c for c in dict.fromkeys(char + char.swapcase() + FOLDS_BEYOND_ASCII) if exact.fullmatch(c))


# Characters a pass may start from with memchr (`str.find`), rarest in a terminal's output first:
# punctuation of code and settings, capitals (those of the months last: `ls -l`, logs), the rarest
# small letters, quotes and brackets. Other small letters, digits and the punctuation of paths are
# everywhere.
ANCHORS = "=@#$%&*+<>^`{|}~\\!?QZYKVHXGBWUPLRTICEJFMASONDqzj;,()[]\"'"
PLACES_LIMIT = 64  # places of a needle a slow regex is tried at, and one more a KB of text
ANCHOR_LIMIT = 16  # places of an anchor looked at, and one more a KB, before a regex (bench/scan.py)


@dataclass(frozen=True)
class _Pass:
    """One pass of a regex over a text, which finds where some needles are. The regex starts with
    plain text, which re looks for several times faster than anything else (an alternation of the
    needles is slower than a pass each); a needle found is looked for no more. Where every needle
    holds a rare character (an anchor), memchr goes from one of its places to the next instead, many
    times faster again, and the regex runs only when there are many in this text."""

    needles: tuple[tuple[str, bool], ...]  # (needle, folded) that the regex finds
    start: str  # the text the regex starts with, when it finds several needles that share it
    regex: re.Pattern | None  # None: a needle of one character, looked for with `in`
    anchor: str = ""  # a character each match holds, and how far into the match, needle by needle
    offsets: tuple[int, ...] = ()
    back: int = 0  # how far into its needle a match of the regex starts
    needs: tuple[str, bool] | None = None  # a needle looked for before, which each match holds


def _anchored(p: _Pass, literal: list[str]) -> _Pass:
    """The pass with an anchor: the rarest character that each needle's plain text (as case-sensitive
    as the regex) holds, if one is rare."""
    shared = set.intersection(*(set(text) for text in literal))
    anchor = min(shared & set(ANCHORS), key=ANCHORS.index, default="")
    offsets = tuple(text.index(anchor) for text in literal) if anchor else ()
    return dataclasses.replace(p, anchor=anchor, offsets=offsets)


@functools.lru_cache(maxsize=128)
def passes(needles: frozenset[tuple[str, bool]]) -> tuple[_Pass, ...]:
    """The passes that find which of these needles a text holds: the case-sensitive ones grouped by
    their first character (one regex each, which starts with what they share); a case-blind one from
    its rarest character that case does not change, or else one regex per case of its first one."""
    out: list[_Pass] = []
    groups: dict[str, list[str]] = {}
    for needle, folded in sorted(needles, key=lambda key: (key[1], key)):  # case-sensitive ones first
        key = ((needle, folded),)
        if not folded:
            groups.setdefault(needle[0], []).append(needle)
        elif len(needle) == 1:
            out += [_Pass(key, v, None) for v in variants(needle)]
        elif caseless := [i for i, ch in enumerate(needle) if variants(ch) == (ch,)]:
            i = min(caseless, key=lambda i: (_commonness(frozenset(needle[i])), i))
            before = f"(?<=(?i:{re.escape(needle[:i])}){re.escape(needle[i])})" if i else ""
            after = f"(?=(?i:{re.escape(needle[i + 1 :])}))" if needle[i + 1 :] else ""
            regex = re.compile(re.escape(needle[i]) + before + after)
            runs = "".join(ch if variants(ch) == (ch,) else "\0" for ch in needle).split("\0")  # caseless
            needs = next(((run, False) for run in sorted(runs, key=len, reverse=True) if (run, False) in needles), None)
            out.append(_anchored(_Pass(key, "", regex, back=i, needs=needs), [needle[i]]))
        else:
            rest = f"(?i:{re.escape(needle[1:])})"
            out += [_anchored(_Pass(key, "", re.compile(re.escape(v) + rest)), [v]) for v in variants(needle[0])]
    for group in groups.values():
        if group == [group[0][0]]:  # one character
            out.insert(0, _Pass(((group[0], False),), group[0], None))
        else:
            start = os.path.commonprefix(group)
            p = _Pass(tuple((n, False) for n in group), start, _starting(start, tuple(group)))
            out.insert(0, _anchored(p, group))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _starting(start: str, needles: tuple[str, ...]) -> re.Pattern:
    """A regex that finds any of these needles, which all start with `start`."""
    rests = "|".join(re.escape(n[len(start) :]) for n in sorted(needles, key=len, reverse=True))
    return re.compile(re.escape(start) + (f"(?:{rests})" if rests else ""))


def _limit(text: str) -> int:
    return ANCHOR_LIMIT + (len(text) >> 10)


def _at(text: str, pos: int, p: _Pass, key: tuple[str, bool]) -> bool:
    """Whether a pass's needle is in a text at `pos`."""
    if pos < 0:
        return False
    return bool(p.regex.match(text, pos)) if key[1] else text.startswith(key[0], pos)


def _by_anchor(text: str, p: _Pass, todo: list) -> tuple[list, bool]:
    """The needles of a pass found from each place its anchor is, and whether that was all of them
    (False: the anchor is not rare in this text, and the regex is to look for them). The places are
    counted first, so a common anchor costs a few memchr calls."""
    places, left = [], _limit(text)
    at = text.find(p.anchor)
    while at >= 0:
        if not left:
            return [], False
        places.append(at)
        at, left = text.find(p.anchor, at + 1), left - 1
    offsets = dict(zip(p.needles, p.offsets, strict=True))
    return [key for key in todo if any(_at(text, at - offsets[key], p, key) for at in places)], True


SMALL_TEXT = 4096  # characters: up to this, needles are looked for one by one


@functools.lru_cache(maxsize=256)
def _folded(needle: str) -> re.Pattern:
    return re.compile(re.escape(needle), re.IGNORECASE)


def _holds_needle(text: str, lowered: str | None, needle: str, folded: bool) -> bool:
    if not folded:
        return needle in text
    return needle in lowered if lowered is not None else bool(_folded(needle).search(text))


def needles_in(text: str, needles: frozenset[tuple[str, bool]]) -> set[tuple[str, bool]]:
    """Which of these needles a text holds: (needle, False) as it is, (needle, True) as re finds it
    when case is ignored, in ASCII and other text alike."""
    if len(text) <= SMALL_TEXT:  # a command, a value: one `in` a needle costs less than setting up passes
        lowered = text.lower() if text.isascii() else None  # in ASCII, case folds onto ASCII only
        return {key for key in needles if _holds_needle(text, lowered, *key)}
    found: set[tuple[str, bool]] = set()
    for p in passes(needles):
        todo = [key for key in p.needles if key not in found]
        if not todo or (p.needs and p.needs not in found):  # (https://hooks... without ://)
            continue
        if p.regex is None:  # one character: `in` is a memchr
            if p.start in text:
                found.update(todo)
            continue
        if p.anchor:
            here, complete = _by_anchor(text, p, todo)
            found.update(here)
            if complete:
                continue
            todo = [key for key in todo if key not in found]
        if len(p.needles) == 1:
            if p.regex.search(text):
                found.update(todo)
            continue
        regex, pos = _starting(p.start, tuple(n for n, _ in todo)), 0  # which needles are where a match starts
        while todo and (m := regex.search(text, pos)):
            here = [key for key in todo if text.startswith(key[0], m.start())]
            found.update(here)
            todo = [key for key in todo if key not in here]
            if here and todo:
                regex = _starting(p.start, tuple(n for n, _ in todo))
            pos = m.start() + 1
    return found


def needle_places(text: str, key: tuple[str, bool], left: int) -> list[int] | None:
    """Where a needle is in a text, in order, overlapping ones too; None when it is in more than
    `left` places, too many to try a regex at one by one."""
    needle, folded = key
    out: list[int] = []
    for p in passes(frozenset({key})) if folded else [_Pass((key,), needle, None)]:
        pos = 0
        while left:
            if p.regex is None:
                at = text.find(p.start, pos)
            else:
                m = p.regex.search(text, pos)
                at = m.start() if m else -1
            if at < 0:
                break
            out.append(at - p.back)
            pos, left = at + 1, left - 1
        else:
            return None
    return sorted(set(out)) if folded else out
