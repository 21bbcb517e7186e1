"""hitcount-indexer: consumes hit batches from the queue and writes them to the store.

Run it as ``hitcount indexer``; several may run against one queue at once.
"""

from hitcount.indexer.indexer import Indexer
from hitcount.indexer.settings import IndexerSettings

__all__ = ["Indexer", "IndexerSettings"]
