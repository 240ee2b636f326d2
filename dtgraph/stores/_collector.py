"""The cycle collector paused for a bulk write (memory store and Neo4j imports alike).

A bulk write allocates millions of acyclic objects (records, query rows), and the collector, run by
allocations, walks its youngest generation again and again and every live object at each full
collection, the graph or the import's bookkeeping included: a third of the time of a 100k-twin import
into the memory store went there, and three quarters of the time Python spends grouping an import's
relationships for Neo4j. Reference counting still frees what the write drops; what only the
collector frees (the Neo4j driver keeps each statement's parameters in a reference cycle) waits for
:meth:`Paused.sweep`, which a writer calls between batches.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Paused", "collector_paused"]


class Paused:
    """The cycle collector paused by :func:`collector_paused`."""

    __slots__ = ()

    def sweep(self) -> None:
        """Free the cyclic garbage made since the sweep before last: a collection of the two younger
        generations only, which hold what was made since (a batch's worth or two, so what was still
        in use at one sweep is looked at again by the next), not what lived before."""
        gc.collect(1)


@contextmanager
def collector_paused() -> Iterator[Paused]:
    """Stop the cycle collector for the block; restart it after with what the block made in its
    oldest generation.

    Re-enabled as it is, the collector's next allocation would walk every object the block made (its
    youngest generation holds them all: a tenth of a 100k-twin import). ``gc.freeze()`` then
    ``gc.unfreeze()`` puts them in the oldest generation instead, where only full collections look,
    as they would look at them once they were old anyway; nothing is kept out of the collector's reach
    (``freeze`` alone would: cyclic garbage made meanwhile, anywhere in the process, would never be
    freed). A process that froze objects of its own (a pre-fork server) keeps them frozen: then the
    collector restarts plainly. Nested blocks leave the restart to the outermost one.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield Paused()
    finally:
        if collecting:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
