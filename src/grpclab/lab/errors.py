"""The one exception of the lab: an operation that cannot be done, said in one line."""

from __future__ import annotations


class LabError(Exception):
    """A lab operation that cannot be done; the message is one line meant for people."""
