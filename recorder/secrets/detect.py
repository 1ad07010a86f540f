"""Finds secrets: where in a command line, a file or a terminal's output a secret's value is.

Three ways to know a secret: its name (DB_PASSWORD=...), its value (detect-secrets' plugins: AWS keys,
GitHub/GitLab/Slack tokens, private keys, JWTs, credentials in URLs, high-entropy strings) and how it
was typed (at a prompt with echo off). What is found is replaced by `redact.Redactor`; `guard.py`
refuses a session that holds one in the clear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import string
import sys
import threading
import types
from dataclasses import dataclass

from recorder.model.placeholders import PLACEHOLDER

# Words that make a variable or option name a secret's name, and words that say its value is not
# the secret itself (a path to it, a length rule, a switch).
SECRET_WORDS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "PRIVATEKEY")
SECRET_PARTS = frozenset({"PASS", "PWD", "PW"})
SECRET_PAIRS = ("API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "SECRET_KEY", "AUTH_KEY", "SIGNING_KEY", "ENCRYPTION_KEY")
NOT_SECRET_PARTS = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "STDIN",
        "CMD",
        "COMMAND",
        "LENGTH",
        "LEN",
        "MIN",
        "MAX",
        "TTL",
        "AGE",
        "EXPIRY",
        "EXPIRES",
        "TIMEOUT",
        "ENABLED",
        "REQUIRED",
        "POLICY",
        "PROMPT",
        "DIALOG",
        "TYPE",
        "URL",
        "HOST",
        "PORT",
        "USER",
        "USERNAME",
        "NAME",
        "ID",
        "METHOD",
        "MODE",
        "BYPASS",
        "COMPASS",
        "AUTHENTICATION",
        "AUTHOR",
        "SOCK",
        "ENDPOINT",
        "URI",
    }
)
NOT_SECRET_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "nil", "required"})
# Settings whose name holds PASS but which say where requests are passed to: an address, never a secret
# (nginx's *_pass directives; `fastcgi_pass unix:/run/php/php8.2-fpm.sock;` is every PHP site's config).
ADDRESS_SETTINGS = frozenset(
    {"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass", "proxypass"}
)
# Settings whose name holds a secret's word in another sense: the product tokens of the Server:
# header (Apache's `ServerTokens OS`, nginx's `server_tokens build;`) say what software answers.
OTHER_SENSE_SETTINGS = frozenset({"servertokens", "server_tokens"})
# A value that is an address: a unix socket, or host:port with a host that looks like one.
ENDPOINT = re.compile(
    r"unix:\S+|(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{1,5}"
)

# How a kind of secret is named when nothing better (a variable) names it.
KIND_NAMES = {
    "Basic Auth Credentials": "URL_PASSWORD",
    "Base64 High Entropy String": "SECRET",
    "Hex High Entropy String": "SECRET",
    "Secret Keyword": "SECRET",
    "JSON Web Token": "JWT",
    "Private Key": "PRIVATE_KEY",
}
SKIPPED_PLUGINS = frozenset(
    {
        "IPPublicDetector",  # an address in a deployment is configuration, not a secret
        "KeywordDetector",  # used below with its config-file patterns, which give the value's place
        "Base64HighEntropyString",  # used below: quoted and unquoted strings, with the plugin's own limit
        "HexHighEntropyString",
    }
)
# For long texts (the terminal's output): the plugins whose patterns are tokens nobody types by
# chance, and that are cheap enough for megabytes (the keyword-style ones cost 10x more).
TOKEN_PLUGINS = frozenset(
    {
        "AWSKeyDetector",
        "GitHubTokenDetector",
        "GitLabTokenDetector",
        "SlackDetector",
        "JwtTokenDetector",
        "PrivateKeyDetector",
        "BasicAuthDetector",
        "StripeDetector",
        "SendGridDetector",
        "PypiTokenDetector",
        "OpenAIDetector",
        "NpmDetector",
        "SquareOAuthDetector",
    }
)
SUBSTRING_MIN = 6  # known values this long are replaced wherever they occur; shorter ones as whole words only
WORD_MIN = 3  # shorter values are replaced only where they were found, never by search
MAX_SCAN = 64 << 20  # captured files larger than this are copied unscanned, with a warning


@dataclass(frozen=True)
class Hit:
    """Where a secret is in a text, what found it, and a name the context suggests for it."""

    start: int
    end: int
    kind: str
    name: str = ""


# ---------------------------------------------------------------- names


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[^A-Za-z0-9]+", name.upper()) if p]


CAMEL_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _last_word(name: str) -> str:
    """The last word of a name, CamelCase ones too (Apache's SSLPassPhraseDialog: DIALOG), which
    says what the setting is: the words before it say whose (userPassword is a password)."""
    words = CAMEL_WORD.findall(name)
    return words[-1].upper() if words else ""


def is_secret_name(name: str) -> bool:
    """DB_PASSWORD, api-key, MYSQL_PWD, requirepass, PROXY_AUTH: yes. PASSWORD_FILE, TOKEN_TTL, AUTH_PROVIDER,
    SSLPassPhraseDialog: no."""
    parts = _parts(name)
    if (
        not parts
        or any(p in NOT_SECRET_PARTS for p in parts)
        or name.lower() in ADDRESS_SETTINGS | OTHER_SENSE_SETTINGS
    ):
        return False
    if _last_word(name) in NOT_SECRET_PARTS:
        return False  # PasswordFile, TokenTTL, SSLPassPhraseDialog: about a secret, not one
    joined = "_".join(parts)
    squashed = joined.replace("_", "")
    if any(word in squashed for word in SECRET_WORDS) or any(pair in joined for pair in SECRET_PAIRS):
        return True
    return parts[-1] == "AUTH" or any(p in SECRET_PARTS or p.endswith("PASS") for p in parts)  # PROXY_AUTH


def plausible_value(value: str) -> bool:
    """A value that could be the secret itself, not a reference to one, a path, a switch or a length."""
    v = value.strip()
    if not v or v.lower() in NOT_SECRET_VALUES or PLACEHOLDER.fullmatch(v):
        return False
    if v[0] in "$%" or v.startswith(("{{", "/", "./", "~/", "`")):
        return False  # $VAR, ${VAR}, %(var)s, {{ var }}, a path
    if re.match(r"[a-z][a-z0-9+.-]*://[^/@\s]*(/|$)", v) or ENDPOINT.fullmatch(v.rstrip(";")):
        return False  # an address without credentials (those are found by their own pattern)
    return not (v.isdigit() and len(v) < 4)


# ---------------------------------------------------------------- values (detect-secrets)


_BUILDING = threading.RLock()  # a warm-up thread builds the plugins while a command may need them


def _once(build):
    """`build`'s value, built by the first caller while the others wait: never twice."""
    value: list = []

    def get():
        if not value:
            with _BUILDING:
                if not value:
                    value.append(build())
        return value[0]

    return get


@contextlib.contextmanager
def _requests_left_out():
    """detect-secrets imports `requests` (with urllib3, http.client and ssl: 60-70 ms, a third of a
    command's start-up budget) only to check a found secret against its service online, which the
    recorder never asks it to do. While it is imported, a placeholder stands in: a name read from it
    at import (a return annotation) is a bare class. The real requests is imported as usual by whatever
    needs it later (the docker SDK), and is used here as it is when something imported it first."""
    if "requests" in sys.modules:
        yield
        return
    placeholder = types.ModuleType("requests", "left out while detect-secrets is imported (never called)")
    placeholder.__getattr__ = lambda name: type(name, (), {})  # PEP 562: any name is a bare class
    sys.modules["requests"] = placeholder
    try:
        yield
    finally:
        if sys.modules.get("requests") is placeholder:
            del sys.modules["requests"]


@_once
def _plugins() -> tuple[list, object, object]:
    """detect-secrets' plugins, built once: the pattern ones, and the two entropy ones. Every module
    of it used here is imported now, while requests is left out."""
    with _requests_left_out():
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.filters import heuristic  # noqa: F401 - imported for later use, see above
        from detect_secrets.plugins import keyword  # noqa: F401
        from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

        classes = get_mapping_from_secret_type_to_class().values()  # imports every plugin's module
    patterns = []
    for cls in classes:
        if cls.__name__ in SKIPPED_PLUGINS:
            continue
        plugin = cls()
        if hasattr(plugin, "denylist"):
            patterns.append(plugin)
    return patterns, Base64HighEntropyString(), HexHighEntropyString()


@dataclass(frozen=True)
class _Search:
    """One of a plugin's patterns, with the text every match of it holds (see `required_text`) and
    characters one of which every match holds (see `required_chars`)."""

    regex: re.Pattern
    needle: str  # "" when nothing is known
    folded: bool  # the pattern ignores case: the needle is lower case, looked for as re ignores case
    gate: frozenset[str]  # empty when nothing is known
    lead: int | None = None  # every match starts this far before a place of the needle, when known
    needles: tuple[str, ...] = ()  # what the prefilter looks for: the needle, or texts one of which
    # every match holds when one pass finds them all (GitHub's ghp_, gho_, ...)
    slow: bool = False  # the pattern does not start with plain text, or ignores case
    keys: frozenset[tuple[str, bool]] = frozenset()  # the needles as needles_in takes them


@_once
def _all_searches() -> list[tuple[object, _Search]]:
    return [(plugin, search) for plugin, searches in _searches() for search in searches]


@_once
def _token_searches() -> list[tuple[object, _Search]]:
    return [(plugin, search) for plugin, search in _all_searches() if type(plugin).__name__ in TOKEN_PLUGINS]


def warm_up() -> None:
    """Import detect-secrets and build its plugins and searches now, not at the first scan (~0.1-0.3 s),
    and the passes that look for the terminal's tokens (their regexes are compiled once)."""
    _passes(frozenset(key for _, search in _token_searches() for key in search.keys))


@_once
def _searches() -> list[tuple[object, list[_Search]]]:
    out = []
    for plugin in _plugins()[0]:
        searches = []
        for regex in plugin.denylist:
            needle, folded = required_text(regex), bool(regex.flags & re.IGNORECASE)
            if folded:  # re folds some non-ASCII letters onto ASCII ones (K, ſ, ı): only ASCII is compared
                needle = needle.lower() if needle.isascii() else ""
            alternatives = required_texts(regex)  # one of which every match holds: ghp_, gho_, ...
            shared = not folded and len({a[:2] for a in alternatives}) == 1  # one pass finds them all
            needles = alternatives if shared and min(map(len, alternatives)) > len(needle) else (needle,)
            lead = needle_lead(regex) if needle else None
            slow = folded or not _starts_plain(regex)
            gate = required_chars(regex)
            needles = tuple(n for n in needles if n)
            keys = frozenset((n, folded) for n in needles)
            searches.append(_Search(regex, needle, folded, gate, lead, needles, slow, keys))
        out.append((plugin, searches))
    return out


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


def _starts_plain(regex: re.Pattern) -> bool:
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


def _span(match: re.Match) -> tuple[int, int]:
    """The secret's part of a plugin's match: its last group when that group ends the match (a password
    before `@`, a key between quotes), else the whole match (a token whose group is only its prefix)."""
    start, end = match.span()
    text = match.string
    for g in range(match.re.groups, 0, -1):
        gs, ge = match.span(g)
        if gs >= 0 and ge > gs and end - ge <= 1 and (gs, ge) != (start, end):
            start, end = gs, ge
            break
    else:  # a token: take all of it (detect-secrets' JWT pattern stops before the signature)
        while end < len(text) and (text[end].isalnum() or text[end] in TOKEN_CHARS):
            end += 1
    while start < end and text[start] in " \t\r\n\"'=:":
        start += 1
    while end > start and text[end - 1] in " \t\r\n\"'=:":
        end -= 1
    return start, end


TOKEN_CHARS = "_-="


def _is_private_key(plugin) -> bool:
    return type(plugin).__name__ == "PrivateKeyDetector"


KEY_END = re.compile(r"-----END [A-Z0-9 ]*-----|---- END SSH2 ENCRYPTED PRIVATE KEY ----")
KEY_BODY = re.compile(r"[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: .*")


def _key_block(text: str, match: re.Match) -> tuple[int, int] | None:
    """A private key from its BEGIN line through its END line, or through its last body line when it
    was cut short; None for a bare BEGIN line (a `grep` for that line holds no key)."""
    line_start = text.rfind("\n", 0, match.start()) + 1
    dashes = text.rfind("-----", line_start, match.start())
    start = dashes if dashes >= 0 else match.start()
    found = KEY_END.search(text, match.end(), match.end() + (64 << 10))
    if found:
        return start, found.end()
    end = None
    pos = text.find("\n", match.end())
    while pos >= 0:
        nxt = text.find("\n", pos + 1)
        line = text[pos + 1 : len(text) if nxt < 0 else nxt].strip()
        if not line or not KEY_BODY.fullmatch(line):
            break
        end, pos = (len(text) if nxt < 0 else nxt), nxt
    return (start, end) if end is not None else None


def _entropy_ok(plugin, value: str) -> bool:
    from detect_secrets.filters import heuristic

    return (
        len(value) >= 8
        and plugin.calculate_shannon_entropy(value) > plugin.entropy_limit
        and not heuristic.is_sequential_string(value)
        and not heuristic.is_potential_uuid(value)
        and not heuristic.is_templated_secret(value)
        and not heuristic.is_prefixed_with_dollar_sign(value)
    )


def looks_random(value: str) -> bool:
    """A whole value (a variable's) that is one random-looking string, as detect-secrets judges a
    quoted string: base64 or hex characters only, above the plugin's entropy limit."""
    _, b64, hexa = _plugins()
    return any(set(value) <= set(p.charset) and _entropy_ok(p, value) for p in (b64, hexa))


BASE64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/_=-])")


PATH_WORD = re.compile(r"[a-z][a-z0-9_-]{2,}")


def _path_like(value: str) -> bool:
    """A run of path segments (`Xk2f9Q/tmp/pytest-of-root/...`, a mktemp directory and what is under it),
    not a base64 string: two or more segments are plain lower-case words, which random base64 almost
    never gives (a 3-letter segment is all lower case about 1 time in 15)."""
    return sum(1 for part in value.split("/") if PATH_WORD.fullmatch(part)) >= 2


# ---------------------------------------------------------------- needles, found in few passes

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
def _passes(needles: frozenset[tuple[str, bool]]) -> tuple[_Pass, ...]:
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
    for p in _passes(needles):
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


def _places(text: str, key: tuple[str, bool], left: int) -> list[int] | None:
    """Where a needle is in a text, in order, overlapping ones too; None when it is in more than
    `left` places, too many to try a regex at one by one."""
    needle, folded = key
    out: list[int] = []
    for p in _passes(frozenset({key})) if folded else [_Pass((key,), needle, None)]:
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


def _matches(search: _Search, text: str):
    """The regex's matches, as finditer gives them: tried only where they can start (just before
    each place of the needle) when there are few such places, which is many times faster for the
    patterns re cannot look for by their first characters (case-blind ones, Stripe's)."""
    slow = search.lead is not None and search.slow and len(text) > SMALL_TEXT
    places = _places(text, (search.needle, search.folded), PLACES_LIMIT + (len(text) >> 10)) if slow else None
    if places is None:
        yield from search.regex.finditer(text)
        return
    end = 0
    for place in places:
        start = place - search.lead
        if start < end or start < 0:
            continue
        m = search.regex.match(text, start)
        if m:
            yield m
            end = max(m.end(), start + 1)


def search_hits(plugin, search: _Search, text: str, everywhere: bool = False) -> list[Hit]:
    """What one of a plugin's searches finds in a text (`everywhere`: the regex run over all of it)."""
    hits = []
    for m in search.regex.finditer(text) if everywhere else _matches(search, text):
        if _is_private_key(plugin):
            block = _key_block(text, m)
            if block:
                hits.append(Hit(*block, plugin.secret_type))
            continue
        start, end = _span(m)
        value = text[start:end]
        if end - start < 4 or (hasattr(plugin, "is_formally_valid") and not plugin.is_formally_valid(value)):
            continue
        hits.append(Hit(start, end, plugin.secret_type))
    return hits


def find_values(text: str, entropy: bool = True, tokens_only: bool = False) -> list[Hit]:
    """Secrets detect-secrets' plugins see in a text. Entropy: quoted strings (as detect-secrets scans
    code) and long unquoted base64-like words; unquoted hex is left alone, since checksums and commit
    ids are everywhere in deployments and are not secrets."""
    return _find_values(text, entropy, tokens_only, prefilter=True)


def _find_values(text: str, entropy: bool, tokens_only: bool, prefilter: bool) -> list[Hit]:
    """find_values, or without `prefilter` every search run over the whole text (what the tests
    compare it with)."""
    _, b64, hexa = _plugins()
    hits: list[Hit] = []
    open_gates: dict[frozenset[str], bool] = {}  # gates looked at so far: does the text hold one of them
    chosen = []
    for plugin, search in _token_searches() if tokens_only else _all_searches():
        if prefilter and search.gate:
            if search.gate not in open_gates:
                open_gates[search.gate] = any(c in text for c in search.gate)
            if not open_gates[search.gate]:
                continue
        chosen.append((plugin, search))
    needles = frozenset(key for _, search in chosen for key in search.keys)
    found = needles_in(text, needles) if prefilter else needles
    for plugin, search in chosen:
        if not search.keys or not found.isdisjoint(search.keys):
            hits += search_hits(plugin, search, text, everywhere=not prefilter)
    if entropy:
        for plugin in (b64, hexa):
            for m in plugin.regex.finditer(text):
                if _entropy_ok(plugin, m.group(2)):
                    hits.append(Hit(*m.span(2), plugin.secret_type))
        for m in BASE64_TOKEN.finditer(text):
            value = m.group()
            if "//" not in value and not value.startswith("/") and not _path_like(value) and _entropy_ok(b64, value):
                hits.append(Hit(*m.span(), b64.secret_type))
    return hits


# ---------------------------------------------------------------- commands and files

WORD = r"""("(?:[^"\\]|\\.)*"|'[^']*'|[^\s;&|<>()'"`]+)"""
ASSIGNMENT = re.compile(r"(?<![\w$])([A-Za-z_][A-Za-z0-9_]*)=" + WORD)
SECRET_OPTION = re.compile(r"(?<!\S)--?([A-Za-z][\w-]*)(?:=|\s+)" + WORD)
MYSQL_P = re.compile(
    r"\b(?:mysql|mysqladmin|mysqldump|mysqlimport|mysqlcheck|mysqlshow|mariadb(?:-\w+)?)\b[^|;&\n]*?\s-p" + WORD
)
LOGIN_P = re.compile(r"\b(?:docker|podman|buildah|helm|skopeo|oras)\s+(?:\S+\s+)*?login\b[^|;&\n]*?\s-p\s+" + WORD)
SSHPASS_P = re.compile(r"\bsshpass\s+-p\s*" + WORD)
REDIS_A = re.compile(r"\bredis-cli\b[^|;&\n]*?\s-a\s+" + WORD)
USER_PASS = re.compile(r"\b(?:curl|wget)\b[^|;&\n]*?\s(?:-u\s*|--user[=\s]\s*)" + WORD)
COMMENT = re.compile(r"\s*(#|;|//|--|\*)")
NAME_VALUE_LINE = re.compile(
    r"(?m)^[ \t]*(?:export[ \t]+|set[ \t]+)?([A-Za-z_][\w.-]*)[ \t]*(?:[:=][ \t]*|[ \t]+)(\S[^\r\n]*?)[ \t;]*$"
)
CONFIG_KEY = re.compile(r"""([\w.-]+)["'\]]*\s*(?:[:=]+|\s)\s*["'`]?$""")


def _unquote(match: re.Match, group: int) -> tuple[int, int]:
    start, end = match.span(group)
    text = match.string
    if end - start >= 2 and text[start] in "\"'" and text[end - 1] == text[start]:
        return start + 1, end - 1
    return start, end


def _program_name(match: re.Match) -> str:
    word = match.group().split()[0]
    return re.sub(r"\W+", "_", word.rsplit("/", 1)[-1]).upper()


def find_in_command(text: str) -> list[Hit]:
    """Secrets on a command line: NAME=value, --password=x, mysql -px, curl -u user:x, docker login -p x,
    credentials in URLs, and whatever detect-secrets' plugins see."""
    hits = []
    for m in ASSIGNMENT.finditer(text):
        start, end = _unquote(m, 2)
        if is_secret_name(m.group(1)) and plausible_value(text[start:end]):
            hits.append(Hit(start, end, "secret variable", m.group(1)))
    for m in SECRET_OPTION.finditer(text):
        start, end = _unquote(m, 2)
        if is_secret_name(m.group(1)) and plausible_value(text[start:end]) and not text[start:end].startswith("-"):
            hits.append(Hit(start, end, "secret option", m.group(1).replace("-", "_").upper()))
    for regex in (MYSQL_P, LOGIN_P, SSHPASS_P, REDIS_A):
        for m in regex.finditer(text):
            start, end = _unquote(m, 1)
            if plausible_value(text[start:end]):
                hits.append(Hit(start, end, "password option", f"{_program_name(m)}_PASSWORD"))
    for m in USER_PASS.finditer(text):
        start, end = _unquote(m, 1)
        user, colon, _ = text[start:end].partition(":")
        if colon and end > start + len(user) + 1:
            hits.append(Hit(start + len(user) + 1, end, "password option", f"{_program_name(m)}_PASSWORD"))
    values = find_values(text)
    for m in ASSIGNMENT.finditer(text):  # a value found inside VAR=... is named after VAR
        start, end = _unquote(m, 2)
        for i, hit in enumerate(values):
            if start <= hit.start and hit.end <= end and not hit.name:
                name = m.group(1) if (hit.start, hit.end) == (start, end) else f"{m.group(1)}_{kind_name(hit)}"
                values[i] = Hit(hit.start, hit.end, hit.kind, name)
    return hits + values


def kind_name(hit: Hit) -> str:
    return KIND_NAMES.get(hit.kind) or var_name(hit.kind).upper()


def find_in_file(text: str) -> list[Hit]:
    """Secrets in a captured config file: `password = x` lines (detect-secrets' keyword patterns for
    config files, and our names), and the plugins' token patterns. No entropy guessing here: a page
    with an integrity hash or an embedded image is not a secret, and a false alarm keeps it out of
    the image."""
    _plugins()  # detect-secrets imported the way _plugins does it
    from detect_secrets.filters import heuristic
    from detect_secrets.plugins.keyword import CONFIG_DENYLIST_REGEX_TO_GROUP

    hits = []
    for line in re.finditer(r"[^\n]+", text):  # detect-secrets applies these patterns line by line
        if COMMENT.match(line.group()) or heuristic.is_indirect_reference(line.group()):
            continue
        for regex, group in CONFIG_DENYLIST_REGEX_TO_GROUP.items():
            for m in regex.finditer(line.group()):
                start, end = m.span(group)
                key = CONFIG_KEY.search(line.group(), 0, start)
                name = key.group(1) if key else ""
                if plausible_value(m.group(group)) and (not name or is_secret_name(name)):
                    hits.append(Hit(line.start() + start, line.start() + end, "secret setting", name.upper()))
    for line in NAME_VALUE_LINE.finditer(text):
        value = line.group(2).strip("\"'")
        if heuristic.is_indirect_reference(line.group()):
            continue  # token = sys.argv[2], secret = get_secret(): code that fetches one
        if is_secret_name(line.group(1)) and plausible_value(value) and not value.startswith("="):
            start = line.start(2) + line.group(2).find(value)
            hits.append(Hit(start, start + len(value), "secret setting", line.group(1).upper()))
    return hits + find_values(text, entropy=False)


def typed_lines(data: bytes) -> list[str]:
    """What was typed at no-echo prompts, as lines, with erase and kill applied as the terminal did."""
    lines, buf = [], []
    for ch in data.decode("utf-8", "replace"):
        if ch in "\x7f\b":
            if buf:
                buf.pop()
        elif ch == "\x15":
            buf.clear()
        elif ch in "\r\n\x03\x04":
            if buf:
                lines.append("".join(buf))
            buf.clear()
        elif ch.isprintable():
            buf.append(ch)
    if buf:
        lines.append("".join(buf))
    return lines


# ---------------------------------------------------------------- redaction


def var_name(name: str) -> str:
    name = re.sub(r"\W+", "_", name).strip("_")
    return name if name and not name[0].isdigit() else f"SECRET_{name}".rstrip("_")
