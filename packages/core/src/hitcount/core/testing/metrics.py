"""The metric names in Prometheus text, as queries and tests may use them.

A family with labels shows no sample until one of its label sets is counted, so a sample
missing from a scrape is no proof that its name is wrong: the ``# TYPE`` lines of a registry
that declares every family (a process's default one) say which names exist.
"""

from __future__ import annotations

import re

# `# TYPE <family> <type>`: the sample names each type exports beside (or instead of) the family's own.
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)
# (Text format 0.0.4 names a counter's family with its _total already.)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
SAMPLE_SUFFIX = re.compile(r"_(total|bucket|count|sum|created)$")


def exported_names(metrics: str) -> set[str]:
    """Every name a query may use: the samples there, and those of each family declared (which may have none)."""
    names = set(SAMPLE_LINE.findall(metrics))
    for name, kind in TYPE_LINE.findall(metrics):
        names.update(family(name) + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


def family(name: str) -> str:
    """The metric a sample name belongs to: ``x`` of ``x_total``, ``x_bucket``, ``x_sum``..."""
    return SAMPLE_SUFFIX.sub("", name)
