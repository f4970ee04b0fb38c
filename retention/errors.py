"""The single error root of the tool; each subclass carries the process exit code it maps to."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_PARTIAL = 4
EXIT_LOCKED = 5
# The audit trail (or an export of it) failed verification, or a run could not write its
# anchor: do not rely on the trail until the fault named is explained.
EXIT_AUDIT = 6
EXIT_UNAVAILABLE = 75
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class RetentionError(Exception):
    """Base of every error the tool reports as one line instead of a traceback."""

    exit_code = EXIT_BUG


class UsageError(RetentionError):
    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Issue:
    """One problem found in a policy: where it is and what is wrong."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(RetentionError):
    """The policies (or their fit to the database schema) are invalid; nothing was touched."""

    exit_code = EXIT_INVALID

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ConfigError(RetentionError):
    """A setting or secret is missing or invalid; nothing was touched."""

    exit_code = EXIT_INVALID


class AuditTrailInvalid(RetentionError):
    """The audit trail failed verification: a record edited, missing, out of order or forged,
    a run never closed, an anchor not matched, or an export file altered. The message names
    the first sequence number at fault."""

    exit_code = EXIT_AUDIT


class DatabaseUnavailable(RetentionError):
    """The database could not be reached; retrying later may succeed."""

    exit_code = EXIT_UNAVAILABLE
