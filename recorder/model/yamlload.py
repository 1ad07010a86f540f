"""Plain data from a session.yaml, fast: libyaml's events built straight into dicts, lists and scalars.

ruamel's own loaders build a node for every scalar, resolve its tag and construct it in Python: 1.8 s
for a 10,000-step session, most of the time `to-dockerfile` takes. A session's scalars repeat (keys,
`/root`, `0`, `run`), so each distinct plain scalar is resolved and constructed once, by ruamel's
own YAML 1.2 resolver and constructor, and the answer reused: the data is what ruamel's safe loader
gives. Anything this does not handle the same way (tags, aliases, merge keys, a `%YAML` directive,
duplicate keys, several documents) raises `Unsupported`, and the caller loads the text
with ruamel itself, which also says where an error is.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

try:  # PyYAML's binding of libyaml builds its event objects faster than ruamel's (0.19 s vs 0.27 s, 10k steps)
    from yaml import events
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: ruamel's binding of the same parser
    from _ruamel_yaml import CParser
    from ruamel.yaml import events

AliasEvent, ScalarEvent = events.AliasEvent, events.ScalarEvent
MappingStartEvent, MappingEndEvent = events.MappingStartEvent, events.MappingEndEvent
SequenceStartEvent, SequenceEndEvent = events.SequenceStartEvent, events.SequenceEndEvent
StreamStartEvent, StreamEndEvent = events.StreamStartEvent, events.StreamEndEvent
DocumentStartEvent, DocumentEndEvent = events.DocumentStartEvent, events.DocumentEndEvent
MERGE = "tag:yaml.org,2002:merge"


class Unsupported(Exception):
    """The text uses something only ruamel's full loader handles (or is not valid YAML)."""


class _Plain:
    """Plain (unquoted, untagged) scalars typed as ruamel's YAML 1.2 resolver types them and built by
    its constructor, each distinct one once."""

    def __init__(self) -> None:
        safe = YAML(typ="safe", pure=True)
        self.constructor = safe.constructor
        self.implicit = safe.resolver.versioned_resolver  # first character -> [(tag, pattern)]
        if self.implicit.get(None):
            raise Unsupported("a resolver for any first character")  # ruamel's own path handles it
        self.seen: dict[str, Any] = {}

    def first(self, text: str) -> Any:
        """A scalar not seen before: typed, built and remembered (the loader looks in `seen` first)."""
        value = self.seen[text] = self._construct(text)
        return value

    def _construct(self, text: str) -> Any:
        if text.isascii() and text.isdigit():
            return int(text)  # a decimal integer (1.2 has no octal `0644`: ruamel reads 644)
        tag = next((tag for tag, pattern in self.implicit.get(text[:1], ()) if pattern.match(text)), None)
        if tag is None:
            return text  # no implicit type matches: a string
        if tag == MERGE:
            raise Unsupported("merge key")
        try:
            return self.constructor.construct_object(ScalarNode(tag, text), deep=True)
        except Exception as exc:  # noqa: BLE001 - ruamel's loader raises the same; it will say where
            raise Unsupported(str(exc)) from None


def load(text: str) -> Any:
    """The single document in `text` as plain Python data; `Unsupported` when ruamel must do it."""
    plain = _Plain()
    seen, first = plain.seen, plain.first
    get = CParser(text).get_event
    root: list[Any] = []  # receives the document
    filling = root  # the collection being filled: a list, or a mapping's keys and values in turn
    open_ = [root]
    documents = 0
    try:
        while True:
            event = get()
            kind = event.__class__
            if kind is ScalarEvent:
                if event.tag is not None:  # an anchor changes nothing; an alias to it is refused below
                    raise Unsupported("tag")
                text = event.value
                if event.implicit[0]:  # plain: typed by what it says
                    try:
                        text = seen[text]
                    except KeyError:
                        text = first(text)
                filling.append(text)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag is not None:
                    raise Unsupported("tag")
                filling = []
                open_.append(filling)
            elif kind is SequenceEndEvent:
                items = open_.pop()
                filling = open_[-1]
                filling.append(items)
            elif kind is MappingEndEvent:
                items = open_.pop()
                mapping = dict(zip(items[::2], items[1::2], strict=True))  # a list or mapping as a key: TypeError
                if len(mapping) * 2 != len(items):
                    raise Unsupported("duplicate key")
                filling = open_[-1]
                filling.append(mapping)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1 or event.version is not None or event.tags:
                    raise Unsupported("several documents or a directive")
            elif kind is StreamEndEvent:
                return root[0] if root else None
            elif kind is AliasEvent:
                raise Unsupported("alias")
            elif kind is not StreamStartEvent and kind is not DocumentEndEvent:
                raise Unsupported(kind.__name__)
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - libyaml's scanner and parser errors
        raise Unsupported(str(exc)) from None
