"""Verify the audit trail: recompute its hash chain, check that every run was closed exactly
once, and compare the trail with anchors (heads written outside the database).

Pure functions over an iterable of record dicts, in the order given: rows of retention_audit
read by sequence number, or the lines of an export file, so one check serves the database and
an archive verified offline. Records are consumed one at a time; memory grows with runs and
anchors, not with records.

What the chain can and cannot show: an edited record breaks its own hash; a deleted one leaves
a gap; a record replaced with a recomputed hash breaks its successor's `prev_hash`. Whoever can
recompute every hash after a change (a full re-chain), or cut the tail, leaves a valid chain:
only an anchor taken before the change shows it. Records after the last anchor are protected
by the chain and the run structure only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .audit import GENESIS, TERMINAL_KINDS, chain_hash

# Kinds a run may still write after the next run recorded it aborted: a run that lost its
# lock finishes the batch in flight (see retention.lock.LockLost) and may close itself.
_LATE_AFTER_ABORT = frozenset({"batch", "rule_failed", "rule_capped", "run_finished"})
SHOWN_FAULTS = 20


@dataclass(frozen=True)
class Anchor:
    """A head of the trail kept outside the database: line `line` of file `source`."""

    seq: int
    hash: str
    run_id: str | None = None
    recorded_at: str | None = None
    source: str = "<anchors>"
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Fault:
    """One problem: `seq` is the first sequence number at fault (None when the problem is not
    one record's, such as an export file's checksum)."""

    seq: int | None
    kind: str  # edited | missing | replaced | reordered | structure | unclosed | anchor | file
    message: str


@dataclass(frozen=True)
class OpenRun:
    """A run with a start record and no terminal one at the end of the records."""

    run_id: str
    start_seq: int
    host: str | None
    pid: int | None


@dataclass
class Report:
    """What verification found; `summary()` is the one-line CloudTrail-style result."""

    records: int = 0
    valid: int = 0
    runs: int = 0
    closed: int = 0
    running: list[str] = field(default_factory=list)
    anchors: int | None = None  # None: no anchors given
    anchors_matched: int = 0
    anchors_not_covered: int = 0  # outside an export's range
    first_seq: int | None = None
    head: tuple[int, str] | None = None
    mid_trail: bool = False  # the records start after seq 1: prev_hash taken as given
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    def first_fault(self) -> Fault | None:
        """The fault with the lowest sequence number; faults without one come last."""
        if not self.faults:
            return None
        return min(self.faults, key=lambda f: (f.seq is None, f.seq or 0))

    def summary(self) -> str:
        running = f" ({len(self.running)} running)" if self.running else ""
        if self.anchors is None:
            anchors = "no anchors given"
        else:
            checked = self.anchors - self.anchors_not_covered
            anchors = f"{self.anchors_matched}/{checked} anchors match"
            if self.anchors_not_covered:
                anchors += f" ({self.anchors_not_covered} outside these records, not checked)"
        head = f"head seq={self.head[0]} hash={self.head[1]}" if self.head else "trail empty"
        return (f"{self.valid}/{self.records} records valid, {self.closed}/{self.runs} runs "
                f"closed{running}, {anchors}, {head}")

    def lines(self) -> list[str]:
        """The summary, then notes and faults (the first SHOWN_FAULTS by sequence number)."""
        out = [self.summary()]
        if self.mid_trail and self.first_seq is not None:
            out.append(f"note: chain checked from seq {self.first_seq}; its prev_hash is taken "
                       "as given (the records start mid-trail)")
        out += [f"note: {n}" for n in self.notes]
        faults = sorted(self.faults, key=lambda f: (f.seq is None, f.seq or 0))
        for fault in faults[:SHOWN_FAULTS]:
            at = f"seq {fault.seq}" if fault.seq is not None else "file"
            out.append(f"FAULT {at} ({fault.kind}): {fault.message}")
        if len(faults) > SHOWN_FAULTS:
            out.append(f"... and {len(faults) - SHOWN_FAULTS} more fault(s)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "records": self.records, "valid": self.valid, "runs": self.runs,
            "closed": self.closed, "running": self.running, "anchors": self.anchors,
            "anchors_matched": self.anchors_matched,
            "anchors_not_covered": self.anchors_not_covered, "first_seq": self.first_seq,
            "mid_trail": self.mid_trail,
            "head": {"seq": self.head[0], "hash": self.head[1]} if self.head else None,
            "faults": [vars(f) for f in sorted(self.faults,
                                               key=lambda f: (f.seq is None, f.seq or 0))],
            "notes": self.notes,
        }


def verify(records: Iterable[Mapping[str, Any]], *, anchors: Sequence[Anchor] | None = None,
           excerpt: bool = False,
           is_running: Callable[[OpenRun], bool] | None = None) -> Report:
    """Check records given in trail order.

    `excerpt`: the records are an export of a period, not the whole trail. They may start
    after seq 1: the first record's prev_hash is then taken as given, and records of runs
    begun before it are accepted; anchors outside their range are not checked. Otherwise a
    first record other than seq 1 is a fault (records deleted) unless an anchor of the seq
    before it matches its prev_hash (older records archived), and an anchor past the last
    record shows a truncated tail.

    `is_running`: asked about each run left without a terminal record at the end; False makes
    it a fault (never closed). None (offline: an export cannot tell) makes it a note.
    """
    checker = _Checker(anchors, excerpt)
    for record in records:
        checker.feed(record)
    return checker.finish(is_running)


@dataclass
class _Run:
    start: int | None  # seq of run_started; None: begun before the first record given
    first: int
    host: str | None = None
    pid: int | None = None
    terminal: int | None = None
    terminal_kind: str | None = None
    reported: bool = False  # already named as never closed, or as unknown


class _Checker:
    """The state of one pass over the records."""

    def __init__(self, anchors: Sequence[Anchor] | None, excerpt: bool) -> None:
        self.report = Report(anchors=None if anchors is None else len(anchors))
        self.excerpt = excerpt
        self.anchors: dict[int, list[Anchor]] = {}
        for anchor in anchors or ():
            self.anchors.setdefault(anchor.seq, []).append(anchor)
        self.checked_anchors: set[int] = set()  # anchor seqs found among the records
        self.last_good_anchor = 0
        self.prev: tuple[int, str, bool] | None = None  # seq, stored hash, own hash valid
        self.gaps: list[tuple[int, int]] = []
        self.faulty: set[int] = set()  # present records at fault
        self.fault_keys: set[tuple[int | None, str]] = set()
        self.runs: dict[str, _Run] = {}
        self.open: dict[str, None] = {}  # runs without a terminal record, in start order
        self.started_any = False

    def fault(self, seq: int | None, kind: str, message: str, *, record: bool = True) -> None:
        """Record a fault, one per sequence number and kind."""
        if (seq, kind) in self.fault_keys:
            return
        self.fault_keys.add((seq, kind))
        self.report.faults.append(Fault(seq, kind, message))
        if record and seq is not None:
            self.faulty.add(seq)

    # ------------------------------------------------------------------ chain

    def feed(self, record: Mapping[str, Any]) -> None:
        seq, prev_hash, stored = int(record["seq"]), str(record["prev_hash"]), str(record["hash"])
        self.report.records += 1
        own_ok = chain_hash(prev_hash, dict(record)) == stored
        if not own_ok:
            self.fault(seq, "edited", "its hash does not match its content: edited")
        in_order = True
        if self.prev is None:
            self._first(seq, prev_hash)
        else:
            last, last_hash, last_ok = self.prev
            if seq == last + 1:
                if prev_hash != last_hash and own_ok and last_ok:
                    # this record is intact, so the one before is not the one it followed
                    self.fault(last, "replaced", (
                        f"its hash is not the prev_hash of seq {seq}: seq {last} was replaced "
                        "by a record with a recomputed hash (forged)"))
                elif prev_hash != last_hash and own_ok:
                    self.fault(seq, "edited", f"prev_hash does not match seq {last}'s hash")
            elif seq > last + 1:
                self._gap(last + 1, seq - 1)
            else:
                in_order = False
                self._out_of_order(seq, last)
        if in_order:
            self.prev = (seq, stored, own_ok)
            self.report.head = (seq, stored)
        self._check_anchors(seq, stored, record.get("run_id"))
        self._check_run(seq, record)

    def _first(self, seq: int, prev_hash: str) -> None:
        self.report.first_seq = seq
        if seq == 1:
            if prev_hash != GENESIS:
                self.fault(1, "edited", "the first record's prev_hash is not the genesis value")
            return
        vouching = self.anchors.get(seq - 1, [])
        if not self.excerpt and not any(a.hash == prev_hash for a in vouching):
            self._gap(1, seq - 1)
            return
        # an export of a period; or a trail whose older records were archived and deleted,
        # up to an anchored head that vouches for where the rest begins
        self.report.mid_trail = True
        for anchor in vouching:
            self.checked_anchors.add(anchor.seq)
            self._match(anchor, prev_hash, None)
        if not self.excerpt:
            self.report.notes.append(f"seq 1..{seq - 1} are not here (archived); the anchor of "
                                     f"seq {seq - 1} vouches for seq {seq}'s prev_hash")

    def _gap(self, start: int, end: int) -> None:
        self.gaps.append((start, end))
        span = f"seq {start}" if start == end else f"seq {start}..{end}"
        self.fault(start, "missing", f"{span} missing: deleted", record=False)

    def _out_of_order(self, seq: int, last: int) -> None:
        for i, (start, end) in enumerate(self.gaps):
            if start <= seq <= end:
                # the hole this record fills was reported as missing: it was moved, not lost
                del self.gaps[i]
                self.fault_keys.discard((start, "missing"))
                self.report.faults = [f for f in self.report.faults
                                      if not (f.kind == "missing" and f.seq == start)]
                for a, b in ((start, seq - 1), (seq + 1, end)):
                    if a <= b:
                        self._gap(a, b)
                break
        self.fault(seq, "reordered", f"out of order: found after seq {last}")

    # ------------------------------------------------------------------ anchors

    def _check_anchors(self, seq: int, stored: str, run_id: Any) -> None:
        for anchor in self.anchors.get(seq, ()):
            self.checked_anchors.add(seq)
            self._match(anchor, stored, run_id)

    def _match(self, anchor: Anchor, stored: str, run_id: Any) -> None:
        if anchor.hash != stored:
            self.fault(anchor.seq, "anchor", (
                f"anchor {anchor.where} gives hash {anchor.hash[:16]}..., the trail has "
                f"{stored[:16]}...: records between seq {self.last_good_anchor + 1} and "
                f"{anchor.seq} were rewritten and the chain recomputed"), record=False)
        elif anchor.run_id is not None and run_id is not None and anchor.run_id != run_id:
            self.fault(anchor.seq, "anchor", (
                f"anchor {anchor.where} names run {anchor.run_id}, the record is run "
                f"{run_id}'s: the anchor file was edited"), record=False)
        else:
            self.report.anchors_matched += 1
            self.last_good_anchor = max(self.last_good_anchor, anchor.seq)

    # ------------------------------------------------------------------ runs

    def _check_run(self, seq: int, record: Mapping[str, Any]) -> None:
        run_id, kind = str(record["run_id"]), str(record["kind"])
        run = self.runs.get(run_id)
        if kind == "run_started":
            if run is not None:
                self.fault(seq, "structure", f"a second run_started for run {run_id} "
                           f"(first at seq {run.start or run.first})")
                return
            for other_id in self.open:
                other = self.runs[other_id]
                other.reported = True
                self.fault(other.start or other.first, "unclosed", (
                    f"run {other_id} has no terminal record, yet run {run_id} started at "
                    f"seq {seq} (a run closes dead runs before it starts): its end was "
                    "deleted"), record=False)
            self.open.clear()
            self.started_any = True
            host, pid = _origin(record.get("detail"))
            self.runs[run_id] = _Run(start=seq, first=seq, host=host, pid=pid)
            self.open[run_id] = None
            self.report.runs += 1
            return
        if run is None:
            run = self.runs[run_id] = _Run(start=None, first=seq)
            if not (self.report.mid_trail and not self.started_any):
                run.reported = True
                self.fault(seq, "structure", f"a {kind} record of run {run_id}, which has no "
                           "run_started before it: forged or misplaced")
                return
            self.open[run_id] = None  # begun before these records
        if run.terminal is not None:
            if run.terminal_kind == "run_aborted" and kind in _LATE_AFTER_ABORT:
                self.report.notes.append(
                    f"seq {seq}: {kind} of run {run_id} after the run_aborted at seq "
                    f"{run.terminal} (the run lost its lock and finished its last batch)")
            else:
                self.fault(seq, "structure", (
                    f"a {kind} record of run {run_id} after its terminal record (seq "
                    f"{run.terminal}): appended to a closed run"))
            return
        if kind in TERMINAL_KINDS:
            run.terminal, run.terminal_kind = seq, kind
            self.open.pop(run_id, None)
            if run.start is not None:
                self.report.closed += 1

    # ------------------------------------------------------------------ end

    def finish(self, is_running: Callable[[OpenRun], bool] | None) -> Report:
        report = self.report
        for run_id, run in self.runs.items():
            if run.terminal is not None or run.reported:
                continue
            start = run.start or run.first
            if is_running is None or run.start is None:
                report.notes.append(f"run {run_id} (from seq {start}) has no terminal record "
                                    "in these records: it was running, or had died, then")
            elif is_running(OpenRun(run_id, start, run.host, run.pid)):
                report.running.append(run_id)
            else:
                self.fault(start, "unclosed", (
                    f"run {run_id} was never closed: no terminal record, and it is not running "
                    "(killed, or its end deleted; the next run records a killed run aborted)"),
                    record=False)
        self._unmatched_anchors()
        report.valid = report.records - len(self.faulty)
        return report

    def _unmatched_anchors(self) -> None:
        report = self.report
        head = report.head[0] if report.head else 0
        first = report.first_seq or 1
        last_anchor = max(self.anchors, default=None)
        if last_anchor is not None and last_anchor < head:
            span = f"seq {head}" if last_anchor + 1 == head else f"seq {last_anchor + 1}..{head}"
            report.notes.append(f"{span} after the last anchor (seq {last_anchor}): only the "
                                "chain and the run checks vouch for them")
        for seq in sorted(self.anchors):
            if seq in self.checked_anchors:
                continue
            for anchor in self.anchors[seq]:
                if (report.mid_trail and seq < first - 1) or (self.excerpt and seq > head):
                    report.anchors_not_covered += 1
                elif seq > head:
                    self.fault(head + 1, "anchor", (
                        f"anchor {anchor.where} (seq {seq}) has no record: the trail ends at "
                        f"seq {head}, records after it were deleted (tail truncated)"),
                        record=False)
                else:
                    self.fault(seq, "anchor", f"anchor {anchor.where}: seq {seq} is missing",
                               record=False)


def _origin(detail: Any) -> tuple[str | None, int | None]:
    """The host and pid a run_started record names, to match the sweep lock's holder."""
    try:
        data = json.loads(detail) if isinstance(detail, str) else {}
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    host, pid = data.get("host"), data.get("pid")
    return (host if isinstance(host, str) else None,
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None)
