"""A hitcount store on plain files: each id's hits, one ``<timestamp> <uid>`` line each, in a file of its own.

Writers and readers of every process take a lock file (``fcntl.flock``) around each call, so the
indexer's writes and the API's counts never see half a line; a hit already in the file (same uid) is
not appended again, which is what the contract asks of a redelivered batch.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hitcount.core import DATA_DIR, Config, Counts, Health, Hit, HitStore, Registry, StoreUnavailable, hookimpl


class FilesStore(HitStore):
    """Hits of each id in ``directory/<sha256 of the id>.hits``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create {directory}: {error}") from error

    @classmethod
    def from_config(cls, config: Config) -> FilesStore:
        return cls(config.get(DATA_DIR) / "files-store")

    def write(self, hits: Sequence[Hit]) -> None:
        by_id: dict[str, dict[str, int]] = {}
        for hit in hits:
            by_id.setdefault(hit.id, {}).setdefault(hit.uid.hex(), hit.timestamp)
        with self._locked(fcntl.LOCK_EX):
            for id, new in by_id.items():
                known = self._read(id)
                lines = [f"{timestamp} {uid}\n" for uid, timestamp in new.items() if uid not in known]
                if lines:
                    with open(self._file(id), "a") as file:
                        file.writelines(lines)
                        file.flush()
                        os.fsync(file.fileno())

    def counts(self, id: str, now: int) -> Counts:
        """The windows, and as the total the hits kept up to ``now``: it keeps no hourly counts, so
        retention lowers its totals."""
        with self._locked(fcntl.LOCK_SH):
            timestamps = list(self._read(id).values())
        counts = Counts.of_timestamps(id, now, timestamps)
        return dataclasses.replace(counts, total=sum(timestamp <= now for timestamp in timestamps))

    def purge(self, before: int) -> int:
        removed = 0
        with self._locked(fcntl.LOCK_EX):
            for path in self._directory.glob("*.hits"):
                lines = path.read_text().splitlines(keepends=True)
                kept = [line for line in lines if int(line.split()[0]) >= before]
                if len(kept) < len(lines):
                    removed += len(lines) - len(kept)
                    fresh = path.with_suffix(".purging")
                    fresh.write_text("".join(kept))
                    fresh.replace(path)
        return removed

    def health(self) -> Health:
        writable = os.access(self._directory, os.W_OK)
        return Health(writable, f"{self._directory} {'writable' if writable else 'not writable'}")

    def _file(self, id: str) -> Path:
        return self._directory / f"{hashlib.sha256(id.encode()).hexdigest()}.hits"

    def _read(self, id: str) -> dict[str, int]:
        """The hits of ``id`` kept, by uid."""
        try:
            text = self._file(id).read_text()
        except FileNotFoundError:
            return {}
        hits: dict[str, int] = {}
        for line in text.splitlines():
            timestamp, uid = line.split()
            hits[uid] = int(timestamp)
        return hits

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """The directory's lock, shared or exclusive; a file system error is the store unavailable."""
        try:
            with open(self._directory / ".lock", "a") as lock:
                fcntl.flock(lock, mode)
                yield
        except OSError as error:
            raise StoreUnavailable(f"{self._directory}: {error}") from error


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    registry.add_store("files", FilesStore.from_config)
