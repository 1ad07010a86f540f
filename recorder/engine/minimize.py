"""`record minimize`: an image without recommended packages, used only once `record verify` proves it
answers like staging. At the engine's edge.

Faithful by default, minimal by proof. The recorded image installs what the host installed,
recommends and all. Here the variant that installs without them is built and verified; when it
passes, the decision (what was dropped, what had to stay and why) is what the caller writes into
session.yaml, and the generators render it. A variant that fails verify is never the answer.

Which recommended packages a deployment needs is found by bisecting on verify, not by watching
what the service opens or executes. Verify asks what matters (the service starts, its ports
answer, its pages are the same, its programs run as the same users), so a package that changes
none of that is not needed by this deployment, and one that does is found by what it changes.
Watching would need ptrace or an audit subsystem (staging containers have neither) and sees only
the code paths one run took. Each trial rebuilds the install layer and what follows (the layers
before it are cached); one needed package costs about log2(candidates) trials.

The candidates are the recorded packages the variant leaves out, as the variant image's own
package database says: the same resolver that builds the image decides, so no simulation can
disagree with what is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from docker.errors import DockerException

from recorder.engine import build as engine
from recorder.engine import verify
from recorder.engine.expect import MISMATCH, Check
from recorder.errors import EngineError, RecorderError
from recorder.managers import registry
from recorder.model.session import MINIMIZABLE, Minimized, Session, active_steps
from recorder.review import plan


@dataclass
class Trial:
    """One variant built and verified: which recommended packages it pinned back, what it left out."""

    label: str
    tag: str
    kept: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    size: int = 0
    failure: str = ""  # why it did not verify: the first mismatch, or the build's error
    kept_why: dict[str, str] = field(default_factory=dict)  # each kept package: what failed without it

    @property
    def passed(self) -> bool:
        return not self.failure


@dataclass
class Outcome:
    recorded: Trial  # the image as recorded (faithful)
    chosen: Trial | None  # the smallest variant that verified; None: keep the recorded installs
    decisions: list[Minimized] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    why_not: str = ""  # when nothing was chosen


def managers(session: Session) -> list[str]:
    """The managers whose recorded installs could go without recommends: an option for it, and a
    database verify can read (else a dropped package could not be told from a missing one)."""
    used = {c.manager for s in active_steps(session) if s.replay == "run" for c in s.effects.packages if c.installed}
    if session.host.needed_packages:
        used.add("apt")
    return [m for m in MINIMIZABLE if m in used and registry.without_recommends(m) and registry.database(m, "")]


def _first_mismatch(checks: list[Check]) -> str:
    bad = [c for c in checks if c.result == MISMATCH]
    if not bad:
        return ""
    c = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{c.kind} {c.subject}: staging {c.expected}, image {c.observed}{more}"


class _Runner:
    def __init__(self, session: Session, directory: Path, base: str | None, repo: str, timeout: float, emit):
        self.session, self.directory, self.base, self.repo = session, directory, base, repo
        self.timeout, self.emit = timeout, emit
        self.client = engine.connect()
        self.trials: list[Trial] = []
        self.tags: list[str] = []

    def _installed(self, tag: str, manager: str) -> dict[str, str]:
        container = self.client.containers.create(tag, entrypoint=["/bin/true"], labels={"io.record.minimize": "1"})
        try:
            return verify.installed(container, manager, "") or {}
        finally:
            with contextlib.suppress(DockerException):
                container.remove(force=True)

    def run(self, label: str, variant: Session, manager: str = "", kept: tuple[str, ...] = ()) -> Trial:
        """Build `variant`, read what it left out of `manager`'s recorded packages, verify it."""
        tag = f"{self.repo}:{'recorded' if not manager else f'try-{len(self.trials)}'}"
        trial = Trial(label, tag, kept)
        self.emit(f"{label}: building {tag}")
        self.tags.append(tag)
        try:
            engine.build(variant, self.directory, tag, self.base, lambda _: None)
        except engine.BuildFailed as exc:
            trial.failure = f"the build failed: {exc}"
            self.emit(f"{label}: {trial.failure}")
            self.trials.append(trial)
            return trial
        trial.size = self.client.images.get(tag).attrs["Size"]
        decided = variant
        if manager:
            recorded = plan.of(replace(variant, minimized=[m for m in variant.minimized if m.manager != manager]))
            present = self._installed(tag, manager)
            trial.dropped = {
                n: p.version
                for n, p in sorted(recorded.packages.items())
                if p.manager == manager and not p.requested and n not in present
            }
            decision = Minimized(manager, dict(trial.dropped), {n: "" for n in kept})
            decided = replace(variant, minimized=[*_others(variant, manager), decision])
        trial.checks = verify.run(decided, tag, self.timeout)
        trial.failure = _first_mismatch(trial.checks)
        verdict = "verify passed" if trial.passed else f"verify failed: {trial.failure}"
        self.emit(f"{label}: {trial.size / 1e6:.1f} MB, {len(trial.dropped)} left out, {verdict}")
        self.trials.append(trial)
        return trial

    def clean(self, keep: set[str]) -> None:
        for tag in self.tags:
            if tag not in keep:
                with contextlib.suppress(DockerException):
                    self.client.images.remove(tag, force=True)


def _others(session: Session, manager: str) -> list[Minimized]:
    return [m for m in session.minimized if m.manager != manager]


def _variant(session: Session, manager: str, kept: tuple[str, ...]) -> Session:
    return replace(session, minimized=[*_others(session, manager), Minimized(manager, {}, {n: "" for n in kept})])


def _minimize_one(runner: _Runner, session: Session, manager: str) -> Trial | None:
    """The variant of `manager`'s installs without recommends that verifies, pinning back as few of
    the recommended packages as verify shows are needed; None when none verifies."""
    cache: dict[frozenset[str], Trial] = {}

    def attempt(kept: tuple[str, ...]) -> Trial:
        kept = tuple(sorted(kept))
        if frozenset(kept) not in cache:
            label = f"{manager} without recommends" + (f", keeping {', '.join(kept)}" if kept else "")
            cache[frozenset(kept)] = runner.run(label, _variant(session, manager, kept), manager, kept)
        return cache[frozenset(kept)]

    first = attempt(())
    if first.passed:
        return first
    pending = sorted(first.dropped)
    if not first.size:  # the build itself failed (a replayed command needed one): what it left out is unknown
        recorded = plan.of(session).packages
        pending = sorted(n for n, p in recorded.items() if p.manager == manager and not p.requested)
    if not pending:
        return None
    keep: list[str] = []
    failed = first
    while pending:
        # The smallest prefix of `pending` that, kept with `keep`, verifies; keeping all of it is the
        # recorded image (it verified), so the search ends at most there.
        lo, hi = 0, len(pending)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            trial = attempt((*keep, *pending[:mid]))
            if trial.passed:
                hi = mid
            else:
                lo, failed = mid, trial
        needed = pending[hi - 1]
        keep.append(needed)
        pending = [n for n in pending if n != needed]
        trial = attempt(tuple(keep))
        trial.kept_why = {**failed.kept_why, needed: f"verify failed without it: {failed.failure}"}
        if trial.passed:
            return trial
        failed = trial
    return None


def minimize(
    session: Session,
    directory: Path,
    base: str | None,
    repo: str,
    timeout: float = 30.0,
    emit: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Build the recorded image and the variants, verify each; the decisions for session.yaml when a
    variant verifies and is smaller. Trial images are removed; the chosen one is tagged REPO:minimized."""
    wanted = managers(session)
    if not wanted:
        raise RecorderError(f"{directory}: no install of {' or '.join(MINIMIZABLE)} to make smaller")
    faithful = replace(session, minimized=[])
    runner = _Runner(faithful, directory, base, repo, timeout, emit)
    chosen: Trial | None = None
    try:
        recorded = runner.run("as recorded", faithful)
        if not recorded.passed:
            raise EngineError(
                f"the image of {directory} as recorded does not verify ({recorded.failure}); "
                "a smaller variant can only be proven against one that does: fix that first (record verify)"
            )
        current, decisions = faithful, []
        for manager in wanted:
            found = _minimize_one(runner, current, manager)
            if found is None:
                continue
            if not found.dropped:
                continue
            kept = {n: found.kept_why.get(n, "verify failed without it") for n in found.kept}
            decision = Minimized(manager, dict(found.dropped), kept)
            decisions.append(decision)
            current = replace(current, minimized=[*current.minimized, decision])
            chosen = found
        outcome = Outcome(recorded, chosen, decisions, list(runner.trials))
        if chosen is not None and chosen.size > recorded.size:
            outcome.chosen, outcome.decisions = None, []
            outcome.why_not = f"the variant that verified is not smaller ({chosen.size / 1e6:.1f} MB)"
        elif chosen is None:
            outcome.why_not = "no variant without recommended packages verified, or there were none to leave out"
        if outcome.chosen is not None:
            runner.client.images.get(outcome.chosen.tag).tag(repo, "minimized")
        return outcome
    finally:
        runner.clean(keep=set())
