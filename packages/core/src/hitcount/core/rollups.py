"""Hourly rollups: what keeps an id's all-time total once retention has deleted its hits.

A store that keeps rollups holds, besides its raw hits, one exact count per id and UTC hour
for every **sealed** hour: an hour no hit can still arrive for. The API accepts a hit's
timestamp up to :data:`LATENESS` in the past, so an hour is sealed once it ended that long
ago plus :data:`SEAL_MARGIN` (for the queue's delay and the clocks of other hosts):
:func:`seal_line`. A bucket is computed from the store's own deduplicated hits of that id
and hour and written over what was there, so sealing again, by any number of indexers, or
after a crash midway, counts no hit twice and loses none; a hit that still arrives for a
sealed hour (a dead letter replayed days later) is added to its hour's bucket as it is stored.

Then ``total = the sealed buckets + the raw hits since the seal line``, exact at every
moment; retention deletes raw hits of sealed hours only, so nothing is counted in neither.
What retention deleted cannot be told apart from a new hit any more: a copy of a stored hit
that came again after ``HITCOUNT_RETENTION`` (a batch held back that long) would count twice.
"""

from __future__ import annotations

from hitcount.core.store import HitStore
from hitcount.core.windows import LONGEST, NS_PER_HOUR

# How far in the past the API accepts a hit's own timestamp: the longest window.
LATENESS = LONGEST.length
# How much later still an hour is sealed: batches wait in the queue, other hosts' clocks differ.
SEAL_MARGIN = NS_PER_HOUR


def seal_line(now: int) -> int:
    """The start of the first hour that cannot be sealed at ``now`` (ns, an hour boundary): every hour
    before it ended at least :data:`LATENESS` + :data:`SEAL_MARGIN` ago."""
    return (now - LATENESS - SEAL_MARGIN) // NS_PER_HOUR * NS_PER_HOUR


def housekeep(store: HitStore, now: int, retention: int) -> tuple[int, int]:
    """Seal what can be sealed at ``now``, then delete hits older than ``retention`` (ns); return the hours
    sealed and the units the purge removed. Sealing first is what lets the purge delete those hours."""
    sealed = store.seal(seal_line(now))
    return sealed, store.purge(now - retention)
