"""Same-run A/B of production-shape variants: each variant's environment, rounds alternated.

    python bench/ab.py --seconds 15 --rounds 3 \\
        gevent:GUNICORN_CMD_ARGS=-kgevent pywsgi:GUNICORN_CMD_ARGS=-kgevent_pywsgi

A variant is ``name:VAR=value,VAR=value`` (``name:`` alone runs the defaults): environment
variables of the API and the indexer, ``BENCH_PYTHON=<interpreter>`` to run them from another
checkout's environment (a before/after), or ``redis.<parameter>=<value>`` to set a Redis
parameter for that variant's runs (``redis.appendfsync=everysec``). Each round
runs every variant once, in turn, so that a noisy neighbour hits them alike; every run
prints its throughput, latency and CPU per hit split by process, and the end a median
per variant. Each round also measures the HTTP floor (``bench/floor.py``: a gevent loop
answering a fixed 204), and every API figure is shown as a multiple of it. Needs the services
of ``scripts/services.py up redis elastic9`` and wrk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from harness import Bench, Shape, pipeline_shape
from loads import CONNECTIONS


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition(":")
    pairs = (item.split("=", 1) for item in assignments.split(",") if item)
    return name, {key: value for key, value in pairs}


@contextmanager
def redis_configured(url: str, overrides: dict[str, str]) -> Iterator[None]:
    """Redis with the ``redis.<parameter>`` overrides of a variant set, and set back afterwards."""
    parameters = {key.removeprefix("redis."): value for key, value in overrides.items() if key.startswith("redis.")}
    client = redis.Redis.from_url(url, decode_responses=True)
    before = {name: str(client.config_get(name)[name]) for name in parameters}
    try:
        for name, value in parameters.items():
            client.config_set(name, value)
        yield
    finally:
        for name, previous in before.items():
            client.config_set(name, previous)
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", type=parse_variant)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk's -c")
    arguments = parser.parse_args()
    bench = Bench(clusters=False)
    print(f"A/B run {bench.run}, logs in {bench.directory}", flush=True)
    services = bench.server_pids(bench.base)
    try:
        results: dict[str, list[Shape]] = {}
        floors: list[float] = []
        for round_number in range(1, arguments.rounds + 1):
            floor = bench.floor(arguments.seconds)
            floors.append(floor.cpu.per_hit(floor.answered)["floor"])
            print(f"round {round_number} {'floor':>12}: {floor.wrk.per_second:,.0f} req/s, {floors[-1]:.1f} µs/request")
            for name, overrides in arguments.variants:
                environ = {**bench.base, **overrides}
                with redis_configured(bench.redis_url, overrides):
                    shape = pipeline_shape(
                        bench,
                        environ,
                        arguments.seconds,
                        f"ab-{name}",
                        services=services,
                        connections=arguments.connections,
                    )
                results.setdefault(name, []).append(shape)
                print(
                    f"round {round_number} {name:>12}: {shape.describe()}, settled in {shape.settled:.1f}s", flush=True
                )
    finally:
        bench.remove_data()
    floor_us = statistics.median(floors)
    print(f"\nmedians per variant; the floor {floor_us:.1f} µs/request")
    for name, shapes in results.items():
        per_hit = [shape.cpu.per_hit(shape.answered) for shape in shapes]
        figures = {key: statistics.median(run[key] for run in per_hit) for key in per_hit[0]}
        rate = statistics.median(shape.wrk.per_second for shape in shapes)
        p90 = statistics.median(shape.wrk.p90 for shape in shapes)
        split = ", ".join(f"{key} {value:.0f}" for key, value in figures.items())
        ratio = figures["api"] / floor_us
        print(f"{name:>12}: {rate:,.0f} req/s, p90 {p90:.0f} ms, µs/hit {split}; API {ratio:.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
