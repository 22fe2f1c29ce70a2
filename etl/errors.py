"""ETL errors. Each names the file, row or field and says what to do; none is ever swallowed.

A fatal error stops a run and leaves the unified tables as they were; row-level problems are not errors
but data (``etl.models.Problem``).
"""

from __future__ import annotations


class EtlError(Exception):
    """Base of every fatal ETL error; ``str()`` is the one clear message the CLI prints."""


class MappingError(EtlError):
    """The mapping file is invalid. Carries every problem at once, each with its path in the file."""

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {where}: {what}" for where, what in problems)
        super().__init__(f"mapping {path} has {len(problems)} problem(s):\n{lines}")


class SourceError(EtlError):
    """The export cannot be read as the mapping expects (missing file, wrong format, truncated ...)."""


class HostileInputError(SourceError):
    """The export looks dangerous (path traversal, zip bomb, external entities): nothing was loaded."""


class SchemaMismatchError(EtlError):
    """Required source fields are missing: nothing can be mapped."""
