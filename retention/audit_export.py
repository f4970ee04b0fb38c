"""The audit trail outside the database: export files with their SHA-256 sidecar, and anchor
files that keep each run's head where whoever controls the database cannot rewrite it.

Export formats: JSON Lines (one record per line, every hashed field plus `hash`, as stored) and
CSV (the same columns; NULL is an empty cell, which the trail never holds otherwise). Both are
read back by `read_export` so that `retention audit verify --file` works without a database.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .audit import RECORD_FIELDS
from .audit_verify import Anchor, Fault, Report
from .errors import EXIT_AUDIT, AuditTrailInvalid, RetentionError

EXPORT_FIELDS = (*RECORD_FIELDS, "hash")
FORMATS = ("jsonl", "csv")
RECORDED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as audit.now_text writes it: sorts as text
_HEX64 = re.compile(r"[0-9a-f]{64}")
# a batch of 100,000 keys holds 3.3 MB of key hashes in one cell
_CSV_FIELD_LIMIT = 2**31 - 1


# --------------------------------------------------------------------------- anchors


def anchor_line(seq: int, hash_: str, run_id: str) -> str:
    """One anchor as written to an anchor file: JSON with the head and when it was taken."""
    return json.dumps({"seq": seq, "hash": hash_,
                       "recorded_at": datetime.now(UTC).strftime(RECORDED_AT_FORMAT),
                       "run_id": run_id}, separators=(",", ":")) + "\n"


def append_anchor(file: IO[str], seq: int, hash_: str, run_id: str) -> None:
    """Append one anchor line and force it to disk (the file is opened in append mode, so
    concurrent writers never overwrite each other's lines)."""
    file.write(anchor_line(seq, hash_, run_id))
    file.flush()
    fd = file.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):  # not a pipe or a terminal
        os.fsync(fd)


def read_anchors(path: str | Path) -> list[Anchor]:
    """Every anchor of an anchor file; a line that is not one is a fault of the file."""
    anchors: list[Anchor] = []
    for number, data in _json_lines(path):
        if not isinstance(data, dict):
            data = {}
        seq, hash_ = data.get("seq"), data.get("hash")
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1
                and isinstance(hash_, str) and _HEX64.fullmatch(hash_)):
            raise AuditTrailInvalid(f"{path}:{number}: not an anchor (expected JSON with "
                                    "an integer seq and a 64-digit hex hash)")
        run_id, recorded_at = data.get("run_id"), data.get("recorded_at")
        anchors.append(Anchor(seq, hash_, run_id if isinstance(run_id, str) else None,
                              recorded_at if isinstance(recorded_at, str) else None,
                              str(path), number))
    return anchors


# --------------------------------------------------------------------------- export files


def write_export(records: Iterator[Mapping[str, Any]], fmt: str, output: Path) -> int:
    """Write records to `output` (through a temporary file, so a failed export leaves no
    partial file behind) and its `.sha256` sidecar; returns the number written."""
    partial = output.with_name(output.name + ".partial")
    count = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="") as file:
            if fmt == "csv":
                writer = csv.writer(file, lineterminator="\n")
                writer.writerow(EXPORT_FIELDS)
                for record in records:
                    writer.writerow(["" if record[k] is None else record[k]
                                     for k in EXPORT_FIELDS])
                    count += 1
            else:
                for record in records:
                    file.write(json.dumps({k: record[k] for k in EXPORT_FIELDS},
                                          ensure_ascii=False, separators=(",", ":")) + "\n")
                    count += 1
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    digest_path(output).write_text(f"{file_sha256(output)}  {output.name}\n", encoding="utf-8")
    return count


def digest_path(export: Path) -> Path:
    return export.with_name(export.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_digest(export: Path, report: Report) -> None:
    """Compare the export with its `.sha256` sidecar (sha256sum format), if there is one."""
    sidecar = digest_path(export)
    if not sidecar.exists():
        report.notes.append(f"no {sidecar.name}: the file's checksum was not checked")
        return
    expected = sidecar.read_text(encoding="utf-8", errors="replace").split(maxsplit=1)
    if not expected or expected[0].lower() != file_sha256(export):
        report.faults.append(Fault(None, "file", (
            f"{export.name} does not match the checksum in {sidecar.name}: the file was "
            "changed after the export")))
    else:
        report.notes.append(f"{export.name} matches {sidecar.name}")


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an export file, CSV when its name ends in .csv, else JSON Lines."""
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path)
    else:
        yield from _read_jsonl(path)


def _json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line; None where a line is not JSON."""
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, None


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for number, data in _json_lines(path):
        if data is None:
            raise AuditTrailInvalid(f"{path}:{number}: not a JSON record: the file was "
                                    "changed or cut")
        yield _checked(data, f"{path}:{number}")


def _read_csv(path: Path) -> Iterator[dict[str, Any]]:
    csv.field_size_limit(min(sys.maxsize, _CSV_FIELD_LIMIT))
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != EXPORT_FIELDS:
            raise AuditTrailInvalid(f"{path}:1: the header is not the export's columns "
                                    f"({','.join(EXPORT_FIELDS)})")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != len(EXPORT_FIELDS):
                raise AuditTrailInvalid(f"{where}: {len(row)} cells, expected "
                                        f"{len(EXPORT_FIELDS)}")
            data: dict[str, Any] = {k: (v if v != "" else None)
                                    for k, v in zip(EXPORT_FIELDS, row, strict=True)}
            seq = data["seq"]
            data["seq"] = int(seq) if isinstance(seq, str) and seq.isdigit() else seq
            yield _checked(data, where)


_REQUIRED = ("seq", "recorded_at", "run_id", "kind", "policy_digest", "prev_hash", "hash")


def _checked(data: Any, where: str) -> dict[str, Any]:
    """A record with exactly the export's fields, of the types the trail stores."""
    if not isinstance(data, dict):
        raise AuditTrailInvalid(f"{where}: not a record (a JSON object)")
    names = set(data)
    if names != set(EXPORT_FIELDS):
        odd = sorted(names - set(EXPORT_FIELDS)) or sorted(set(EXPORT_FIELDS) - names)
        raise AuditTrailInvalid(f"{where}: not a record of the trail (fields differ: "
                                f"{', '.join(odd)})")
    seq = data["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AuditTrailInvalid(f"{where}: seq is not a positive integer")
    for name in EXPORT_FIELDS[1:]:
        value = data[name]
        if not (isinstance(value, str) or (value is None and name not in _REQUIRED)):
            raise AuditTrailInvalid(f"{where}: seq {seq}: {name} is not text")
    return data


class AnchorNotWritten(RetentionError):
    """The run is recorded in the trail, but its head could not be appended to the anchor
    file: the trail is not anchored for this run."""

    exit_code = EXIT_AUDIT
