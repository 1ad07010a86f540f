"""YAML that every reader reads the same way, for generated manifests and compose files.

ruamel.yaml writes YAML 1.2, where `no`, `on` and `8080:80` are plain strings; kubectl and older
compose read YAML 1.1, where they are a boolean and a number. Strings that YAML 1.1 would read as
anything but a string are therefore quoted, and multi-line text becomes a literal block only when a
block keeps it byte for byte.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, SingleQuotedScalarString

# The implicit types of YAML 1.1 (bool, int in every base, sexagesimal, float, null, timestamp, merge).
YAML11_NOT_A_STRING = re.compile(
    r"""^(?:
      y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    | ~|null|Null|NULL|<<|=
    | [-+]?0b[01_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
    | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
    | [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)? | [-+]?\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
    | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?
    )$""",
    re.VERBOSE,
)
BLOCK_SAFE = re.compile(r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u2028\u2029]*$")


def text(value: str) -> str:
    """A string scalar that YAML 1.1 and 1.2 readers both load as exactly `value`."""
    if "\n" in value:
        if BLOCK_SAFE.match(value) and not value.startswith((" ", "\t")):
            return LiteralScalarString(value)
        return DoubleQuotedScalarString(value)
    if YAML11_NOT_A_STRING.match(value):
        return SingleQuotedScalarString(value)
    return value


def prepare(node: Any) -> Any:
    """Walk generated data and make every string, keys included, safe for both YAML versions."""
    if isinstance(node, dict):
        out = CommentedMap((text(k) if type(k) is str else k, prepare(v)) for k, v in node.items())
        if isinstance(node, CommentedMap):
            node.copy_attributes(out)  # comments are kept by key, and a quoted key equals the plain one
        return out
    if isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            node[i] = prepare(item)
        return node
    if isinstance(node, list):
        return CommentedSeq(prepare(v) for v in node)
    if isinstance(node, str) and type(node) is str:
        return text(node)
    return node


def mapping(**items: Any) -> CommentedMap:
    """A mapping in the order given, without the keys whose value is None."""
    return CommentedMap((k, v) for k, v in items.items() if v is not None)


def dump(documents: list[Any], header: str = "") -> str:
    """Documents as one YAML stream, each string prepared, with a comment header."""
    y = YAML(typ="rt")
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    y.dump_all([prepare(d) for d in documents], buf)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return lines + buf.getvalue()
