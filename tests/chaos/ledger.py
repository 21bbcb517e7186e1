"""Every hit of a chaos run classified, as Jepsen's queue checker does: lost, duplicated, unexpected.

The load client's journal says which uids it sent and which of them were acknowledged
(``hitcount bench --journal``); the store says which uids it holds and how many times.
An acknowledged hit the store lacks is lost; a uid held more than once is duplicated; a
uid nobody sent is unexpected. All three must be zero. A hit given up (never
acknowledged) may or may not be counted: either is correct, and the report says how many were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hitcount.core.bench.load import ACKNOWLEDGED


def read_journal(directory: Path) -> dict[str, bool]:
    """Whether each uid sent was acknowledged, from the journals of ``directory``."""
    sent: dict[str, bool] = {}
    for path in sorted(directory.glob("*.txt")):
        for line in path.read_text().splitlines():
            uid, outcome, *_ = line.split()  # then when and after how many sends: for a reader of the logs
            if uid in sent:
                raise ValueError(f"uid {uid} is in the journals twice: the client sent it as two hits")
            sent[uid] = outcome == ACKNOWLEDGED
    return sent


@dataclass(frozen=True)
class Ledger:
    """The classification of a run's hits; :attr:`exact` when nothing was lost, duplicated or unexpected."""

    sent: int
    acknowledged: int
    counted: int
    lost: frozenset[str]
    duplicated: Mapping[str, int]
    unexpected: frozenset[str]
    given_up_counted: int

    @classmethod
    def classify(cls, sent: Mapping[str, bool], stored: Iterable[str], counted: int) -> Ledger:
        """``sent``: uid -> acknowledged; ``stored``: the uid of every hit the store holds, as often as it
        holds it; ``counted``: the count the API answers for the run's id."""
        copies = Counter(stored)
        return cls(
            sent=len(sent),
            acknowledged=sum(sent.values()),
            counted=counted,
            lost=frozenset(uid for uid, acknowledged in sent.items() if acknowledged and uid not in copies),
            duplicated={uid: number for uid, number in copies.items() if number > 1},
            unexpected=frozenset(uid for uid in copies if uid not in sent),
            given_up_counted=sum(1 for uid, acknowledged in sent.items() if not acknowledged and uid in copies),
        )

    @property
    def stored(self) -> int:
        """Distinct hits the store holds that were sent."""
        return self.acknowledged - len(self.lost) + self.given_up_counted

    @property
    def exact(self) -> bool:
        """Nothing lost, duplicated or unexpected, and the API counts what the store holds."""
        return not (self.lost or self.duplicated or self.unexpected) and self.counted == self.stored

    def summary(self) -> str:
        extra = sum(number - 1 for number in self.duplicated.values())
        return (
            f"hits sent {self.sent}  acknowledged {self.acknowledged}  counted {self.counted}"
            f" (stored {self.stored}, of which {self.given_up_counted} given up by the client)\n"
            f"lost {len(self.lost)}  duplicated {len(self.duplicated)} (+{extra} copies)"
            f"  unexpected {len(self.unexpected)}"
        )

    def problems(self) -> str:
        """What is wrong, with up to ten uids of each kind, to look for in the logs."""
        parts = []
        if self.counted != self.stored + len(self.unexpected) + sum(n - 1 for n in self.duplicated.values()):
            parts.append(f"the API counts {self.counted}, not what the store holds")
        for name, uids in (
            ("lost", sorted(self.lost)),
            ("duplicated", sorted(self.duplicated)),
            ("unexpected", sorted(self.unexpected)),
        ):
            if uids:
                parts.append(f"{name} {len(uids)}: {', '.join(uids[:10])}")
        return "; ".join(parts) or "nothing"
