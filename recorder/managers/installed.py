"""pip and npm installs, seen in the files they write rather than by asking the tools.

A pip install leaves `<site-packages>/<name>-<version>.dist-info/`; an npm install leaves
`<node_modules>/<name>/package.json`. The file watcher already names every path a command touched,
so the installed set and the virtualenv or project it went into cost nothing extra to learn, and an
install done by a script or a Makefile is seen as well as one typed by hand.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

DIST_INFO = re.compile(r"^(?P<site>.*/(?:site|dist)-packages)/(?P<name>[^/-]+)-(?P<version>[^/]+)\.dist-info/")
NODE_MODULE = re.compile(r"^(?P<root>.*?)/node_modules/(?P<name>@[^/]+/[^/]+|[^@/][^/]*)/package\.json$")
GLOBAL_NODE_MODULES = ("/usr/local/lib", "/usr/lib", "/opt/homebrew/lib")


def normalize(name: str) -> str:
    """PEP 503: Flask, flask and FLASK_ are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_installs(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """site-packages directory -> {distribution: version} for dist-info directories among `paths`."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        match = DIST_INFO.match(path)
        if match:
            found.setdefault(match["site"], {})[match["name"]] = match["version"]
    return found


def virtualenv_of(site: str) -> str:
    """The virtualenv a site-packages directory belongs to; "" for a system interpreter."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(site)))  # <root>/lib/pythonX.Y/site-packages
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else ""


def npm_installs(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """Directory holding node_modules -> {package: version}, top-level packages only."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        match = NODE_MODULE.match(path)
        if not match or "/node_modules" in match["root"]:  # a dependency nested inside a package
            continue
        try:
            with open(path, encoding="utf-8") as f:
                version = str(json.load(f).get("version", ""))
        except (OSError, ValueError, AttributeError):
            continue
        if version:
            found.setdefault(match["root"], {})[match["name"]] = version
    return found


def is_global_npm_root(root: str) -> bool:
    """`npm -g` installs into <prefix>/lib/node_modules."""
    return root in GLOBAL_NODE_MODULES
