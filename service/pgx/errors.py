"""Errors raised while loading reference tables into a knowledge release."""

from __future__ import annotations


class TableError(ValueError):
    """A reference table is broken: names the file, the entry and the reason.

    Raised at load time (``pgx tables load``, release activation), never during a lookup, so a
    broken table is refused before it can produce an answer.
    """

    def __init__(self, file: str, entry: str | None, reason: str):
        self.file = str(file)
        self.entry = entry
        self.reason = reason
        where = f"{self.file}: {entry}" if entry else self.file
        super().__init__(f"{where}: {reason}")
