"""Finds secrets: where in a command line, a file or a terminal's output a secret's value is.

Three ways to know a secret: its name (DB_PASSWORD=...), its value (detect-secrets' plugins: AWS keys,
GitHub/GitLab/Slack tokens, private keys, JWTs, credentials in URLs, high-entropy strings) and how it
was typed (at a prompt with echo off). What is found is replaced by `redact.Redactor`; `guard.py`
refuses a session that holds one in the clear.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import types
from dataclasses import dataclass

from recorder.model.placeholders import PLACEHOLDER
from recorder.secrets.needles import (
    PLACES_LIMIT,
    SMALL_TEXT,
    needle_lead,
    needle_places,
    needles_in,
    passes,
    required_chars,
    required_text,
    required_texts,
    starts_plain,
)

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
    passes(frozenset(key for _, search in _token_searches() for key in search.keys))


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
            slow = folded or not starts_plain(regex)
            gate = required_chars(regex)
            needles = tuple(n for n in needles if n)
            keys = frozenset((n, folded) for n in needles)
            searches.append(_Search(regex, needle, folded, gate, lead, needles, slow, keys))
        out.append((plugin, searches))
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


def _matches(search: _Search, text: str):
    """The regex's matches, as finditer gives them: tried only where they can start (just before
    each place of the needle) when there are few such places, which is many times faster for the
    patterns re cannot look for by their first characters (case-blind ones, Stripe's)."""
    slow = search.lead is not None and search.slow and len(text) > SMALL_TEXT
    places = needle_places(text, (search.needle, search.folded), PLACES_LIMIT + (len(text) >> 10)) if slow else None
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
