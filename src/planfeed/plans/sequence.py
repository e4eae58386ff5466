"""Dotted sequence ids ("1.2.10") and the key that makes them sort as numbers."""

from __future__ import annotations

import re

_SEQUENCE = re.compile(r"^[1-9][0-9]{0,5}(\.[1-9][0-9]{0,5}){0,19}$")


def is_valid_sequence(sequence_id: str) -> bool:
    return bool(_SEQUENCE.match(sequence_id))


def sequence_key(sequence_id: str) -> str:
    """Zero-pad each segment so a plain string sort puts 1.2 before 1.10."""
    return ".".join(f"{int(part):06d}" for part in sequence_id.split("."))


def parent_sequence(sequence_id: str) -> str | None:
    """Clients find the parent by dropping the last segment; so do we."""
    head, _, _ = sequence_id.rpartition(".")
    return head or None
