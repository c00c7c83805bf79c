"""Writer process for the crash-safety test: appends numbered batches until killed.

Usage: python -m tests.store_writer STORE_DIR FIRST_BATCH

Prints ``ready`` once imported and ``committed N`` after batch N's append returned.
Every third batch re-appends the previous one too, to exercise idempotency under kills.
"""

from __future__ import annotations

import datetime as dt
import sys

import polars as pl

from workbench.frames import CANONICAL_SCHEMA
from workbench.store import Store

ENTITIES = 12
MINUTES = 60
ROWS_PER_BATCH = 3 * ENTITIES * MINUTES


def batch(n: int) -> pl.DataFrame:
    """Batch ``n``: one hour (hour ``n`` after the epoch below) of three providers."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)
    ts = pl.datetime_range(
        start, start + dt.timedelta(minutes=MINUTES - 1), "1m", eager=True, time_zone="UTC"
    )
    frames = []
    for provider, level, metric in (
        ("kafka", "topic", "messages_in_per_s"),
        ("rabbitmq", "queue", "queue_depth_messages"),
        ("sqs", "queue", "oldest_message_age_s"),
    ):
        for e in range(ENTITIES):
            frames.append(
                pl.DataFrame(
                    {
                        "ts": ts,
                        "provider": provider,
                        "cluster": "crash",
                        "level": level,
                        "entity": f"e{e}",
                        "metric": metric,
                        "value": [float(n * 1000 + e + i) for i in range(MINUTES)],
                        "source": f"test:batch:{n}",
                    }
                )
            )
    return pl.concat(frames).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]


def main() -> None:
    store = Store(sys.argv[1])
    n = int(sys.argv[2])
    print("ready", flush=True)
    while True:
        store.append("crash", batch(n), source="test:crash", parameters={"batch": n}, seed=n)
        if n % 3 == 0 and n > 0:
            store.append("crash", batch(n - 1), source="test:crash")
        print(f"committed {n}", flush=True)
        n += 1


if __name__ == "__main__":
    main()
