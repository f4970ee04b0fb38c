"""Logging for the command-line entry point (the library never configures logging itself)."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, debug: bool = False, json_logs: bool | None = None) -> None:
    """JSON lines on stderr when it is not a terminal, a readable console otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    level = logging.DEBUG if debug else logging.INFO
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json_logs:
        processors += [structlog.processors.dict_tracebacks,
                       structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.plain_traceback,
        ))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # looked up at each call: tests and callers may replace sys.stderr
        logger_factory=lambda *_args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
