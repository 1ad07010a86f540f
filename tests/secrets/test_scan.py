"""The prefilter of the value scan (which searches can match a text, found in few passes) loses no hit:
find_values gives exactly what every search run over the whole text gives, on texts that mix tokens of
every kind, in any case, with random and real-looking output, ASCII or not."""

from __future__ import annotations

import base64
import json
import re
import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recorder.secrets import detect
from recorder.secrets import needles as prefilter

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def _token(*parts) -> st.SearchStrategy[str]:
    """A token: fixed parts (str), drawn ones ((alphabet, size) or (alphabet, min, max)) and strategies."""
    strategies = []
    for part in parts:
        if isinstance(part, str):
            strategies.append(st.just(part))
        elif isinstance(part, st.SearchStrategy):
            strategies.append(part)
        else:
            alphabet, *size = part
            low, high = (size[0], size[0]) if len(size) == 1 else size
            strategies.append(st.text(alphabet, min_size=low, max_size=high))
    return st.tuples(*strategies).map("".join)


def _b64json(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _key_block(kind: str) -> st.SearchStrategy[str]:
    dashes = "-" * 5
    header = f"BEGIN {kind}"
    return st.lists(st.text(B64, min_size=16, max_size=64), min_size=1, max_size=4).map(
        lambda lines: "\n".join([dashes + header + dashes, *lines, dashes + "END " + kind + dashes])
    )


# Tokens of each plugin's shapes; literals are split so that no scanner takes this file for secrets.
KINDS = [
    _token(st.sampled_from(("AK" + "IA", "AS" + "IA", "AB" + "IA", "AC" + "CA", "A3" + "TX")), (ALNUM.upper(), 16)),
    _token("aws_secret" + "_key = '", (B64, 40), "'"),
    _token('AWS_PASS="', (B64, 40), '"'),
    _token(st.sampled_from(("ghp", "gho", "ghu", "ghs", "ghr")), "_", (ALNUM + "_", 36)),
    _token(st.sampled_from(("glpat", "gldt", "glft", "glsoat", "glrt")), "-", (ALNUM + "_-", 20, 50)),
    _token("GR" + "1348941", (ALNUM, 20, 30)),
    _token("glc" + "bt-", (ALNUM, 20, 30)),
    _token("gli" + "mt-", (ALNUM, 25)),
    _token("glp" + "tt-", (ALNUM, 40)),
    _token("glag" + "ent-", (ALNUM, 50, 60)),
    _token("glo" + "as-", (ALNUM, 64)),
    _token("xo" + "xb-", (string.digits, 5, 12), "-", (string.digits, 5, 13), "-", (string.ascii_lowercase, 10, 24)),
    _token("https://hooks.slack" + ".com/services/T", (ALNUM, 8), "/B", (ALNUM, 8), "/", (ALNUM, 24)),
    _token(
        _b64json({"alg": "HS256"}),
        ".",
        st.text(ALNUM, max_size=20).map(lambda s: _b64json({"sub": s})),
        ".",
        (ALNUM + "-_", 43),
    ),
    *(_key_block(k + " KEY") for k in ("RSA PRIVATE", "OPENSSH PRIVATE", "EC PRIVATE", "PRIVATE", "DSA PRIVATE")),
    _key_block("PGP PRIVATE KEY BLOCK"),
    _token("PuTTY-User-Key-" + "File-2: ssh-rsa\n"),
    _token("https://deploy:", (ALNUM, 8, 16), "@git.example.com/app.git"),
    _token("postgres://app:", (ALNUM, 8, 16), "@db:5432/app"),
    _token(st.sampled_from(("sk", "rk")), "_li" + "ve_", (ALNUM, 24)),
    _token("SG" + ".", (ALNUM, 22), ".", (ALNUM, 43)),
    _token("pypi-AgEIcHlwaS5" + "vcmc", (ALNUM, 70, 80)),
    _token("sk-", (ALNUM, 20), "T3Blb" + "kFJ", (ALNUM, 20)),
    _token("//registry.npmjs.org/:_auth" + "Token=", (HEX + "-", 36)),
    _token("sq0c" + "sp-", (ALNUM, 43)),
    _token("AccountKey=", (B64, 88)),
    _token("12345678:", (ALNUM, 35)),
    _token("AC", (string.ascii_lowercase + string.digits, 32)),
]
TOKENS = st.one_of(KINDS)


def _folds(text: str) -> str:
    """The text with some letters swapped for what re takes for them when case is ignored."""
    return text.replace("s", "\u017f").replace("k", "\u212a").replace("i", "\u0131")


CASED = st.one_of(
    TOKENS,
    TOKENS.map(str.upper),
    TOKENS.map(str.swapcase),
    TOKENS.map(str.title),
    TOKENS.map(_folds),
    TOKENS.map(lambda t: _folds(t.upper())),
)

REAL_LINES = [
    "-rw-r--r-- 1 root root   1234 Jan 12 10:42 libexpat.so.1.8.10\n",
    "drwxr-xr-x 2 root root   4096 Jun  3 08:01 x86_64-linux-gnu\n",
    "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]\n",
    "Setting up libgl1-mesa-dri:amd64 (22.3.6-1+deb12u1) ...\n",
    '{"key": "value", "aws": "no", "token": "abc"}\n',
    "  Downloading https://files.pythonhosted.org/packages/py3-none-any.whl (96 kB)\n",
    "/usr/lib/python3/dist-packages/glib-2.0/ BEGIN PRIVATE\n",
    "export XOX=1 SG= sq0 T3 eyJ gl- k_ PuTTY :// @ = \" '\n",
    "caf\u00e9 na\u00efve \u212a \u017f \u0131 \u0130 \u4e2d\u6587\n",
]
NOISE = st.one_of(
    st.sampled_from(REAL_LINES),
    st.text(st.sampled_from(ALNUM + " \n\t-_.:/@='\"+\u017f\u212a\u0131\u0130\u00e9"), max_size=60),
)
TEXTS = st.lists(st.one_of(CASED, NOISE), min_size=1, max_size=12).map("".join)


# Beyond prefilter.SMALL_TEXT, needles are found in passes over the text rather than one by one: each
# text is tried as it is and after this much real-looking output.
FILLER = "".join(REAL_LINES) * (prefilter.SMALL_TEXT // len("".join(REAL_LINES)) + 1)


def _both(text: str, tokens_only: bool) -> tuple[list, list]:
    return (
        detect.find_values(text, entropy=False, tokens_only=tokens_only),
        detect._find_values(text, entropy=False, tokens_only=tokens_only, prefilter=False),
    )


@settings(max_examples=300, deadline=None)
@given(TEXTS)
@example("xo" + "xoxb-1234-5678-abcdef")  # the needle twice, overlapping: the match is at the second
@example("sk" + "_live_" + "0" * 30 + "rk" + "_live_" + "1" * 24)  # a match one character before its needle
def test_the_prefilter_keeps_every_hit_of_every_search(text):
    for tokens_only in (True, False):
        for padded in (text, FILLER + text, text + FILLER):
            fast, every = _both(padded, tokens_only)
            assert fast == every


@settings(max_examples=100, deadline=None)
@given(st.lists(CASED, min_size=1, max_size=3).map(" ".join))
def test_each_kind_of_token_is_found_in_any_case_by_both(text):
    """The comparison above means something: the samples are hits, the prefilter must keep them
    (and a text whose only token is in another case or folded is found too, where the plugin ignores case)."""
    for padded in (text, FILLER + text):
        fast, every = _both(padded, tokens_only=False)
        assert fast == every


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_the_samples_hold_hits_of_every_token_plugin(data):
    """Every plugin of the terminal's scan finds some sample: a prefilter that drops one fails above."""
    text = "\n".join(data.draw(kind) for kind in KINDS)
    found = {h.kind for h in detect._find_values(text, False, True, prefilter=False)}
    kinds = {type(p).__name__: p.secret_type for p, _ in detect._searches()}
    assert {kinds[name] for name in detect.TOKEN_PLUGINS} - found == set()


NEEDLE_CHARS = "abkKsSiI:/-_.x=Q"


@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.tuples(st.text(NEEDLE_CHARS, min_size=1, max_size=5), st.booleans()), max_size=8),
    st.text(st.sampled_from(NEEDLE_CHARS + " \u017f\u212a\u0131\u0130"), max_size=80),
)
@example({("aaa", False), ("aab", False)}, "aaab")  # one starts inside another's match
@example({("aa", False), ("aab", False), ("a", False)}, "xaab")  # one starts another
@example({("sk", True), ("k", True)}, "\u017f\u212a")  # found only through re's folding
@example({("aK", False), ("aKs", False)}, "K" * 40 + "aKs")  # an anchor too common: the regex takes over
def test_needles_in_finds_what_in_and_a_case_blind_search_find(needles, text):
    """Needles that share their first characters, that start others, of one character, with letters
    and without: each is found exactly where `in` (or re ignoring case) finds it."""
    needles = frozenset((n.lower() if folded else n, folded) for n, folded in needles)
    for padded in (text, "0123456789 \n" * (prefilter.SMALL_TEXT // 12 + 1) + text):
        expected = {
            (n, folded)
            for n, folded in needles
            if (re.search(re.escape(n), padded, re.IGNORECASE) if folded else n in padded)
        }
        assert prefilter.needles_in(padded, needles) == expected


def test_variants_are_every_character_re_takes_for_an_ascii_one_when_case_is_ignored():
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for char in string.printable:
        taken = set(re.findall(re.escape(char), everything, re.IGNORECASE))
        assert taken == set(prefilter.variants(char)), char


def test_texts_one_of_which_every_match_holds_are_read_from_groups_classes_and_alternatives():
    assert prefilter.required_texts(re.compile(r"(ghp|gho)_[a-z]{36}")) == ("gho_", "ghp_")
    assert prefilter.required_texts(re.compile(r"(?:r|s)k_live_[0-9a-z]{24}")) == ("rk_live_", "sk_live_")
    assert prefilter.required_texts(re.compile(r"A(?:3T[A-Z]|BIA|KIA)")) == ("A3T", "ABIA", "AKIA")  # ends at [A-Z]
    assert prefilter.required_texts(re.compile(r"ab?cd")) == ("cd",)
    for nothing in (r"[A-Z]{20}", r"(?:x|)y?", r"\d+"):
        assert prefilter.required_texts(re.compile(nothing)) == (), nothing


def test_how_far_before_its_needle_a_match_starts_is_known_only_when_fixed():
    assert prefilter.needle_lead(re.compile(r"(?:r|s)k_live_[0-9a-z]{24}")) == 1
    assert prefilter.needle_lead(re.compile(r"[0-9a-z]{32}-us[0-9]{1,2}")) == 32
    assert prefilter.needle_lead(re.compile(r"^xox(?:a|b)-")) == 0
    assert prefilter.needle_lead(re.compile(r"x?abc")) is None
    assert prefilter.needle_lead(re.compile(r"[A-Z]+")) is None
