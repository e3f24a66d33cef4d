"""The one path every registry mutation takes: lock, recover, stage, commit or roll back, record
in registry.json, invalidate the cache (pre-commit's store and pipx's transaction are the models).
A verb's body holds only its own logic:

    with mutation.begin(registry, "install", report) as m:
        txn = m.stage()
        ...                                   # fetch, validate, build in txn.new
        m.commit(lambda: os.rename(txn.new, target), undo=lambda: os.rename(target, txn.new))
        m.record(name, record)

A body may stage and commit more than once (a migration's rollback removes and puts back several
servers in one mutation): each commit is one step, and all of them are recorded together.

The store knows nothing of its readers: regenerating the clients' files after a change is the
caller's (clients/regeneration.py's ``after`` wraps this for the verbs whose change clients see).

A failure, Ctrl-C or SIGTERM before the record leaves the registry as it was (every commit is
undone, the last first: not recorded, not done); a SIGKILL at any instant leaves it valid (each
commit whole or not at all), and the next mutation's recovery puts the leftovers right. Nothing
here prints.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from claudex_mcp.store import cache, registry as registry_mod, staging
from claudex_mcp import paths, safepath
from claudex_mcp.errors import no_registry
from claudex_mcp.store.lock import registry_lock
from claudex_mcp.store.staging import fault

Report = Callable[..., None]


def quiet(step: str, detail: str | None = None) -> None:
    pass


class Mutation:
    """What one mutation did so far; the verb drives it, begin() finishes it."""

    def __init__(self, registry: Path, op: str, report: Report) -> None:
        self.registry, self.op, self.report = registry, op, report
        self.txn: staging.Transaction | None = None  # the one staged last
        self._txns: list[staging.Transaction] = []
        self.records: dict[str, dict | None] = {}  # name -> new record, or None to drop it
        self.committed = False
        self.changed = False  # something the clients see changed (folders or config layers)
        self.reconciled = False  # registry.json was brought in line with the folders
        self._undo: list[Callable[[], None]] = []  # of each commit, in order
        self.result: dict = {}  # what the layer above adds to the verb's result once it is done

    def stage(self, name: str | None = None, **journal) -> staging.Transaction:
        """A transaction folder under .staging/ (the commit that follows is its), removed when
        the mutation ends."""
        self.txn = staging.Transaction(self.registry, self.op, name)
        self._txns.append(self.txn)
        if journal:
            self.txn.write_journal(**journal)
        return self.txn

    def commit(self, do: Callable[[], None], undo: Callable[[], None]) -> None:
        """The one step that makes a change visible (a rename or an exchange); ``undo`` puts it
        back when the mutation fails before its record is written."""
        self.report("commit")
        fault("commit")
        do()
        self.committed = self.changed = True
        if self.txn is not None:
            self.txn.committed = True  # what is left in it is the old version: see Transaction.remove
        self._undo.append(undo)

    def record(self, name: str, record: dict | None) -> None:
        """What registry.json will say of ``name`` (None: nothing) once committed."""
        self.records[name] = record

    def touched(self) -> None:
        """Something the clients see changed without a commit (a config layer was written)."""
        self.changed = True

    def _roll_back(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _write_records(self) -> None:
        fault("record")
        records = registry_mod.reconciled(self.registry)
        for name, record in self.records.items():
            if record is None:
                records.pop(name, None)
            else:
                records[name] = record
        registry_mod.write_records(self.registry, records)


def _sigterm_as_interrupt() -> None:
    """SIGTERM rolls back like Ctrl-C: the transaction's `finally` runs."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def is_registry(registry: Path) -> bool:
    """registry.json or one of the location folders is there (a registry whose registry.json was
    lost is still one: a reconciliation writes it again from the folders)."""
    return paths.registry_file(registry).exists() or any((registry / loc).is_dir() for loc in paths.LOCATIONS)


def check_registry(registry: Path, rebuild: bool = False) -> None:
    """The registry exists (with ``rebuild``, possibly without its registry.json), and the folders
    a commit renames into are real folders."""
    if not (is_registry(registry) if rebuild else paths.registry_file(registry).exists()):
        raise no_registry(registry)
    for location in paths.LOCATIONS:
        safepath.real_dir(registry / location)


@contextmanager
def begin(registry: Path, op: str, report: Report = quiet, *, rebuild: bool = False) -> Iterator[Mutation]:
    """``rebuild``: a registry whose registry.json is missing is taken too (reconcile writes it)."""
    _sigterm_as_interrupt()
    m = Mutation(registry, op, report)
    with registry_lock(registry, on_wait=lambda said: report("waiting", said)):
        check_registry(registry, rebuild)
        staging.recover(registry)
        try:
            yield m
            if m.committed:
                m._write_records()
            elif registry_mod.write_records(registry, registry_mod.reconciled(registry)):
                # A SIGKILL between a commit and its record left registry.json behind the folders:
                # a mutation that went through brings it in line even when it committed nothing
                # itself (a failed one changes nothing, as every user mistake).
                m.reconciled = True
        except BaseException:
            m._roll_back()  # not recorded: not done
            raise
        finally:
            for txn in m._txns:
                txn.remove()
        fault("done")
    if m.changed or m.reconciled:
        cache.invalidate()


def create(registry: Path) -> list[str]:
    """`init`'s first step: what is missing of the registry made (registry.init; an existing
    registry.json is left as it is), and the index cache dropped when something was."""
    created = registry_mod.init(registry)
    if created:
        cache.invalidate()
    return created


def reconcile(registry: Path) -> dict:
    """registry.json brought in line with the folders (what every mutation does before its own
    change; `cache refresh` asks for it alone), then the index rescanned. A folder that is not
    a registry (`init` makes one) is only scanned."""
    reconciled = False
    if is_registry(registry):
        with begin(registry, "reconcile", rebuild=True) as m:
            pass  # no change of its own: begin's recovery and reconciliation are the work
        reconciled = m.reconciled
    index, _ = cache.load(registry, refresh=True)
    return {"registry": index["registry"], "servers": len(index["servers"]), "reconciled": reconciled}
