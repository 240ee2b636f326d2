"""The limits an AAS input must stay within: checked before and while reading, never after.

A package is refused before anything is expanded when its size, number of parts, declared expanded size or
compression ratio is over a limit (zip bombs); zipfile then holds every part to its declared size and CRC.
Nesting depth is counted while parsing (XML events, JSON after decoding).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Configurable maxima of one input file (a JSON, XML or AASX upload)."""

    max_file_bytes: int = 100 * MiB  # the file or upload as given
    max_parts: int = 1000  # parts (files) of a package
    max_part_bytes: int = 200 * MiB  # one part, expanded
    max_expanded_bytes: int = 500 * MiB  # all parts of a package, expanded
    max_ratio: float = 100.0  # expanded / compressed size of a part larger than ratio_floor
    ratio_floor: int = 64 * 1024  # small parts compress well and harmlessly
    max_depth: int = 128  # nesting of XML elements, or of JSON objects and arrays


DEFAULT_LIMITS = Limits()
