"""Which files and directories under the watched roots changed since the last look, at a cost that
follows the number of changes, not the size of the trees.

A directory is a change when it is new or its mode or owner changed (`mkdir -p /var/log/app`,
`chmod 750`, `chown app`): an empty directory a service needs, or one it must own, is part of the
deployment. One that only gained or lost entries is not (its entries are the change).

inotify watches every directory under the roots (one walk at start); after each command only the
paths the kernel named are looked at. Two cases fall back to a walk that trusts ctime (which no
user command can set back): the kernel's event queue overflowed (a large package install), or
there were not enough inotify watches for every directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from inotify_simple import INotify, flags

from recorder.capture.probes import Entry, FileProbe, entry_of

MASK = (
    flags.CREATE
    | flags.DELETE
    | flags.MODIFY
    | flags.CLOSE_WRITE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.ATTRIB
    | flags.DELETE_SELF
    | flags.DONT_FOLLOW
    | flags.ONLYDIR
)
# What a system directory's watch reports: entries made, removed or moved, and changed attributes (an
# event about a directory carries ISDIR; one about the watched directory itself has no name).
DIR_MASK = (
    flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO | flags.ATTRIB | flags.DELETE_SELF | flags.ONLYDIR
)
SLACK_NS = 100_000_000  # file timestamps lag the wall clock by up to a tick; look a little further back


class FileWatcher:
    def __init__(self, probe: FileProbe):
        self.probe = probe
        self.inotify = INotify(nonblocking=True)
        self.dirs: dict[int, str] = {}  # watch descriptor -> directory
        self.known: set[str] = set()  # files and symlinks under the roots
        self.dir_states: dict[str, tuple[int, int, int]] = {}  # directory -> (mode, uid, gid) last seen
        self._started = False
        self.complete = True  # every directory has a watch
        self.walks = 0  # full walks done after start (overflow or missing watches): for the benchmark
        self._since = time.time_ns()
        self.ancestors: dict[int, str] = {}  # watches waiting for a root that does not exist yet
        for root in probe.roots:
            if not probe.ignored(root):
                self._watch_root(root, set())
        self._started = True

    def _watch_root(self, root: str, found: set[str]) -> None:
        """Watch a root's tree, or, until it exists (apt creates /var/www), its nearest existing parent."""
        if os.path.isdir(root):
            self._add_tree(root, found)
            return
        parent = os.path.dirname(root)
        while parent != "/" and not os.path.isdir(parent):
            parent = os.path.dirname(parent)
        with contextlib.suppress(OSError):
            self.ancestors[self.inotify.add_watch(parent, flags.CREATE | flags.MOVED_TO | flags.ONLYDIR)] = parent

    def _on_ancestor_event(self, path: str, found: set[str]) -> None:
        for root in self.probe.roots:
            if root == path or root.startswith(path + "/"):
                self._watch_root(root, found)

    def close(self) -> None:
        self.inotify.close()

    def _add_tree(self, top: str, found: set[str]) -> None:
        """Watch `top` and every directory below it; what is met on the way goes into `found` (at start,
        the directories' states are the baseline instead)."""
        stack = [top]
        while stack:
            directory = stack.pop()
            if self._started:
                found.add(directory)
            else:
                with contextlib.suppress(OSError):
                    st = os.lstat(directory)
                    self.dir_states[directory] = (st.st_mode & 0o7777, st.st_uid, st.st_gid)
            if self.complete:
                try:
                    self.dirs[self.inotify.add_watch(directory, MASK)] = directory
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        continue  # vanished or unreadable
                    self.complete = False  # out of watches: every look becomes a walk
            try:
                scan = os.scandir(directory)
            except OSError:
                continue
            with scan:
                for item in scan:
                    if self.probe.ignored(item.path):
                        continue
                    if item.is_dir(follow_symlinks=False):
                        stack.append(item.path)
                    else:
                        self.known.add(item.path)
                        found.add(item.path)

    def changes(self) -> tuple[dict[str, Entry], list[str]]:
        """(changed or created path -> its state now, deleted paths) since the previous call."""
        dirty: set[str] = set()
        gone_dirs: list[str] = []
        overflow = not self.complete
        for event in self.inotify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                overflow = True
                continue
            if event.mask & flags.IGNORED:
                self.dirs.pop(event.wd, None)
                continue
            if event.wd in self.ancestors:
                if event.mask & flags.ISDIR:
                    self._on_ancestor_event(os.path.join(self.ancestors[event.wd], event.name), dirty)
                continue
            directory = self.dirs.get(event.wd)
            if directory is None:
                continue
            path = os.path.join(directory, event.name) if event.name else directory
            if self.probe.ignored(path):
                continue
            if event.mask & flags.ISDIR:
                if event.mask & (flags.CREATE | flags.MOVED_TO):
                    self._add_tree(path, dirty)  # files may have landed before the watch did
                elif event.mask & (flags.DELETE | flags.MOVED_FROM):
                    gone_dirs.append(path + "/")
                    dirty.add(path)
                elif event.mask & flags.ATTRIB:  # chmod, chown of a directory
                    dirty.add(path)
            elif event.mask & flags.ATTRIB and not event.name:  # the watched directory's own attributes
                dirty.add(directory)
            elif not event.mask & flags.DELETE_SELF:
                dirty.add(path)
        if overflow:
            dirty |= self._walk_changed()
        elif gone_dirs:
            dirty |= {p for p in (*self.known, *self.dir_states) if p.startswith(tuple(gone_dirs))}
        self._since = time.time_ns()

        changed: dict[str, Entry] = {}
        deleted: list[str] = []
        for path in sorted(dirty):
            entry = entry_of(path)
            if entry is not None and entry.kind == "dir":
                state = (entry.mode, entry.uid, entry.gid)
                if self.dir_states.get(path) != state:
                    changed[path] = entry
                    self.dir_states[path] = state
            elif entry is not None:
                changed[path] = entry
                self.known.add(path)
            elif path in self.known or path in self.dir_states:
                self.known.discard(path)
                self.dir_states.pop(path, None)
                deleted.append(path)
        return changed, deleted

    def _walk_changed(self) -> set[str]:
        """The fallback: every path whose ctime is recent, plus every known path that is gone."""
        self.walks += 1
        since = self._since - SLACK_NS
        now = self.probe.snapshot()
        recent = {p for p, e in now.items() if e.ctime_ns >= since}  # a directory: compared to its last state
        vanished = {p for p in (*self.known, *self.dir_states) if p not in now}
        if self.complete:  # re-arm watches for directories created while events were lost
            watched = set(self.dirs.values())
            for p, e in now.items():
                if e.kind == "dir" and p not in watched:
                    with contextlib.suppress(OSError):
                        self.dirs[self.inotify.add_watch(p, MASK)] = p
        return recent | vanished


# Where services keep their state, logs and runtime files, to this many levels below the root.
SYSTEM_DIRS = {"/run": 3, "/var/lib": 2, "/var/log": 2, "/var/cache": 2, "/var/spool": 2}
# The package managers' and the init system's own, which no deployment step means to make.
SYSTEM_OWN = ("/var/lib/dpkg", "/var/lib/apt", "/var/cache/apt", "/var/cache/debconf", "/var/log/apt")


class SystemDirs:
    """Directories outside the watched roots that a step made or re-moded: `service php8.2-fpm start`
    makes /run/php, `mkdir -p /var/log/supervisor` a log directory a service needs, `chown app
    /var/lib/app` one it must own. An image has no init scripts to make them again. The files in them
    are the running services' (pid files, sockets, logs, data), never the deployment. Only directories
    are looked at, a few levels deep.

    A walk costs about a millisecond, more than the rest of a step together once the journal's fsync
    left the prompt's path; so every directory walked is watched (inotify), and a walk is made only
    when one of them gained, lost or re-moded a directory (a pid file or a log line is no reason)."""

    def __init__(self, roots: dict[str, int] | None = None, ignored=lambda path: False):
        self.roots = SYSTEM_DIRS if roots is None else roots
        self.ignored = lambda path: path.startswith(SYSTEM_OWN) or ignored(path)
        self.inotify = INotify(nonblocking=True)
        self.complete = True  # every directory walked has a watch: no event means no change
        self.walks = 0
        self.states = self._walk()

    def _watch(self, directory: str) -> None:
        if not self.complete:
            return
        try:
            self.inotify.add_watch(directory, DIR_MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self.complete = False  # out of watches: every look becomes a walk

    def _walk(self) -> dict[str, tuple[int, int, int]]:
        self.walks += 1
        found: dict[str, tuple[int, int, int]] = {}
        for root, levels in self.roots.items():
            stack = [(root, 0)]
            while stack:
                directory, depth = stack.pop()
                try:
                    scan = os.scandir(directory)
                except OSError:
                    continue
                self._watch(directory)
                with scan:
                    for item in scan:
                        if item.is_dir(follow_symlinks=False) and not self.ignored(item.path):
                            with contextlib.suppress(OSError):
                                st = item.stat(follow_symlinks=False)
                                found[item.path] = (st.st_mode & 0o7777, st.st_uid, st.st_gid)
                            if depth + 1 < levels:
                                stack.append((item.path, depth + 1))
        return found

    def _moved(self) -> bool:
        """A directory came, went or changed mode or owner in a watched one (or events were lost)."""
        moved = not self.complete
        for event in self.inotify.read(timeout=0):
            if event.mask & (flags.ISDIR | flags.Q_OVERFLOW | flags.DELETE_SELF) or not event.name:
                moved = True
        return moved

    def changes(self) -> dict[str, Entry]:
        if not self._moved():
            return {}
        now = self._walk()
        changed = {}
        for path, state in sorted(now.items()):
            if self.states.get(path) != state:
                entry = entry_of(path)
                if entry is not None:
                    changed[path] = entry
        self.states = now
        return changed

    def close(self) -> None:
        self.inotify.close()
