"""The one way the portal writes CSV. Cells come from names anybody may set (a VM's name in vCenter, an
environment's name, an audited object's repr), and a spreadsheet runs a cell that starts with =, +, -, @, a tab or a
carriage return as a formula (OWASP, CSV injection): such a cell is prefixed with a quote, which spreadsheets show
as text and do not evaluate."""

from __future__ import annotations

import csv

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """`value` as a cell no spreadsheet evaluates. Only text is changed: numbers and dates are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer whose rows are neutralised cell by cell; `writerow` returns what the stream's write returned
    (the streaming responses write into an echo and yield that)."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([neutralise(cell) for cell in row])


def writer(stream, **kwargs) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
