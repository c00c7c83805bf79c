"""Benchmark: pull series from a real local Prometheus into a canonical frame.

Claim (issue 4): the workbench's Prometheus source turns a range pull into a canonical
frame >= 5x faster than prometheus-api-client's ``MetricRangeDataFrame`` path, and at
>= 2 million samples/s end to end.

Setup (all done here, in one run):

1. Write 1,000 RabbitMQ queue-depth series x 10,000 points (15 s apart, ~41.7 h) as
   OpenMetrics, **one file per 2-hour block** (promtool re-reads its whole input once per
   block, RUNNING-SERVICES.md §8), and backfill them with ``promtool tsdb
   create-blocks-from openmetrics`` into an empty data directory.
2. Start Prometheus on a free 127.0.0.1 port and wait until compaction settles (the
   block count stops changing).
3. Time, on the same data and the same time chunks (<= 11,000 points per series each):

   * **workbench**: :class:`workbench.sources.prometheus.PrometheusSource` range pulls
     (parallel chunks, ``Accept-Encoding: identity``, orjson with the garbage collector
     paused, JSON straight into Polars) + :func:`workbench.mapping.map_samples` (table
     detection, entity ids, catalogue check and quarantine) → canonical frame;
   * **baseline**: ``PrometheusConnect.custom_query_range`` per chunk →
     ``MetricRangeDataFrame`` (pandas) → ``pl.from_pandas`` → canonical columns and dtypes
     (no quarantine: the baseline gets the cheaper finish).

Both results are checked to hold the same rows and values. ``--quick`` uses 100 series
x 2,000 points. Results: ``benchmarks/results/ingest.json`` (``ingest-quick.json``
with ``--quick``).

Run: ``python benchmarks/ingest.py`` from the repository root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.frames import CANONICAL_SCHEMA  # noqa: E402
from workbench.mapping import map_samples  # noqa: E402
from workbench.sources.prometheus import PrometheusAuth, PrometheusSource, split_range  # noqa: E402

STEP = 15
BLOCK = 2 * 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_blocks(folder: Path, n_series: int, n_points: int, start: int, seed: int = 7) -> list[Path]:
    """One OpenMetrics file per 2-hour block: 'queue depth' random walks, integer values."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-3, 4, size=(n_series, n_points))
    values = np.maximum(np.cumsum(steps, axis=1) + 500, 0)
    ts = start + STEP * np.arange(n_points)
    names = [f'rabbitmq_queue_messages_ready{{vhost="/",queue="q{i:05d}"}} ' for i in range(n_series)]
    files = []
    block_of = (ts - ts[0]) // BLOCK
    for block in np.unique(block_of):
        cols = np.nonzero(block_of == block)[0]
        frame = pl.DataFrame(
            {
                "prefix": np.repeat(names, len(cols)),
                "value": values[:, cols].reshape(-1),
                "ts": np.tile(ts[cols], n_series),
            }
        ).select(pl.format("{}{} {}", "prefix", "value", "ts").alias("line"))
        path = folder / f"block_{block:04d}.om"
        with path.open("w", encoding="utf-8") as handle:
            handle.write("# TYPE rabbitmq_queue_messages_ready gauge\n")
            handle.write("\n".join(frame["line"].to_list()))
            handle.write("\n# EOF\n")
        files.append(path)
    return files


def backfill(files: list[Path], data_dir: Path) -> float:
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SystemExit("promtool not found: apt-get install -y prometheus")
    began = time.perf_counter()
    for path in files:
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(path), str(data_dir)],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - began


def start_prometheus(workdir: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus not found: apt-get install -y prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\nscrape_configs: []\n", encoding="utf-8")
    log = (workdir / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("Prometheus did not become ready")


def wait_compaction(data_dir: Path, settle: float, limit: float = 600) -> int:
    """Wait until the block count stops changing for ``settle`` seconds."""

    def blocks() -> int:
        return sum(1 for p in data_dir.iterdir() if p.is_dir() and len(p.name) == 26)

    last, since, began = blocks(), time.monotonic(), time.monotonic()
    while time.monotonic() - since < settle and time.monotonic() - began < limit:
        time.sleep(1)
        now = blocks()
        if now != last:
            last, since = now, time.monotonic()
    return last


def run_workbench(
    url: str, start: float, end: float, max_points: int, workers: int
) -> tuple[pl.DataFrame, dict[str, float]]:
    began = time.perf_counter()
    with PrometheusSource(
        url, auth=PrometheusAuth(), max_points=max_points, max_workers=workers, timeout=600
    ) as src:
        samples = src.query_range("rabbitmq_queue_messages_ready", start, end, f"{STEP}s")
    pulled = time.perf_counter()
    result = map_samples(samples, cluster="bench")
    done = time.perf_counter()
    assert result.quarantined.height == 0
    assert result.unknown.height == 0
    return result.frame, {"pull_s": pulled - began, "map_s": done - pulled, "total_s": done - began}


def run_baseline(url: str, start: float, end: float, max_points: int) -> tuple[pl.DataFrame, float]:
    import pandas as pd
    from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect

    began = time.perf_counter()
    prom = PrometheusConnect(url, disable_ssl=True, timeout=600)
    parts = []
    for a, b in split_range(start, end, STEP, max_points=max_points):
        data = prom.custom_query_range(
            "rabbitmq_queue_messages_ready",
            start_time=dt.datetime.fromtimestamp(a, dt.UTC),
            end_time=dt.datetime.fromtimestamp(b, dt.UTC),
            step=f"{STEP}s",
        )
        parts.append(MetricRangeDataFrame(data))
    frame = pd.concat(parts).reset_index()
    canonical = pl.from_pandas(frame).select(
        pl.col("timestamp").dt.replace_time_zone("UTC").cast(CANONICAL_SCHEMA["ts"]).alias("ts"),
        pl.lit("rabbitmq").cast(CANONICAL_SCHEMA["provider"]).alias("provider"),
        pl.lit("bench").alias("cluster"),
        pl.lit("queue").cast(CANONICAL_SCHEMA["level"]).alias("level"),
        pl.col("queue").alias("entity"),
        pl.lit("queue_depth_messages").alias("metric"),
        pl.col("value").cast(pl.Float64),
        pl.lit("prometheus:baseline").alias("source"),
    )
    return canonical, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 series x 2,000 points (< 1 min)")
    parser.add_argument("--series", type=int, default=None)
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="parallel requests of the workbench source")
    parser.add_argument(
        "--chunk-points", type=int, default=2_500, help="points per series per request (<= 11,000)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="timed repetitions; the best is reported")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n_series = args.series or (100 if args.quick else 1_000)
    n_points = args.points or (2_000 if args.quick else 10_000)
    out = args.out or ROOT / "benchmarks" / "results" / ("ingest-quick.json" if args.quick else "ingest.json")
    total = n_series * n_points

    end = (int(time.time()) - 3600) // BLOCK * BLOCK
    start = end - (n_points - 1) * STEP
    work = Path(tempfile.mkdtemp(prefix="wb-bench-ingest-"))
    data_dir = work / "tsdb"
    data_dir.mkdir()
    proc = None
    try:
        t = time.perf_counter()
        files = write_blocks(work, n_series, n_points, start)
        print(
            f"wrote {len(files)} OpenMetrics block files ({total:,} samples) in {time.perf_counter() - t:.1f} s"
        )
        seconds = backfill(files, data_dir)
        print(f"promtool backfill: {seconds:.1f} s")
        proc, url = start_prometheus(work, data_dir)
        blocks = wait_compaction(data_dir, settle=5 if args.quick else 20)
        print(f"Prometheus ready at {url}, {blocks} blocks after compaction settled")

        load_before = os.getloadavg()[0]
        ours_best, base_best = float("inf"), float("inf")
        ours_detail: dict[str, float] = {}
        ours_frame = base_frame = None
        for round_ in range(args.repeat):
            gc.collect()
            ours_frame, detail = run_workbench(url, start, end, args.chunk_points, args.workers)
            if detail["total_s"] < ours_best:
                ours_best, ours_detail = detail["total_s"], detail
            del ours_frame
            gc.collect()
            base_frame, base_s = run_baseline(url, start, end, args.chunk_points)
            base_best = min(base_best, base_s)
            print(f"round {round_ + 1}: workbench {detail['total_s']:.2f} s, baseline {base_s:.2f} s")
            if round_ < args.repeat - 1:
                del base_frame
        ours_frame, _ = run_workbench(url, start, end, args.chunk_points, args.workers)
        assert base_frame is not None
        key = ["entity", "ts"]
        a = ours_frame.select(*key, "value").sort(key)
        b = base_frame.select(*key, "value").sort(key)
        assert a.height == b.height == total, (a.height, b.height, total)
        assert a.equals(b), "workbench and baseline frames differ"
        load_after = os.getloadavg()[0]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "samples_per_s": round(total / ours_best),
        "speedup_vs_metric_range_dataframe": round(base_best / ours_best, 2),
        "baseline_samples_per_s": round(total / base_best),
        "workbench_seconds": round(ours_best, 3),
        "workbench_pull_seconds": round(ours_detail["pull_s"], 3),
        "workbench_map_seconds": round(ours_detail["map_s"], 3),
        "baseline_seconds": round(base_best, 3),
        "series": n_series,
        "points_per_series": n_points,
        "samples": total,
    }
    table = pl.DataFrame(
        {
            "path": [
                "workbench PrometheusSource + map_samples",
                "prometheus-api-client MetricRangeDataFrame",
            ],
            "seconds": [round(ours_best, 2), round(base_best, 2)],
            "samples_per_s": [figures["samples_per_s"], figures["baseline_samples_per_s"]],
        }
    )
    with pl.Config(fmt_str_lengths=60, tbl_width_chars=120):
        print(table)
        print(pl.DataFrame({"figure": list(figures), "value": [float(v) for v in figures.values()]}))
    targets = {"samples_per_s": 2_000_000, "speedup_vs_metric_range_dataframe": 5.0}
    for name, target in targets.items():
        verdict = "met" if figures[name] >= target else "MISSED"
        print(f"target {name} >= {target:,}: {verdict} ({figures[name]:,})")

    import pandas
    import prometheus_api_client

    prom_version = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "pandas": pandas.__version__,
            "prometheus-api-client": getattr(prometheus_api_client, "__version__", "0.7.2"),
            "prometheus": prom_version,
        },
        "quick": args.quick,
        # other work on the machine slows both paths; the 1-minute load average says how busy it was
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
        "protocol": (
            f"{n_series} series x {n_points} points at {STEP}s backfilled with promtool (one file per 2h block); "
            f"same chunks of <= {args.chunk_points} points for both paths; workbench uses {args.workers} parallel "
            f"requests; best of {args.repeat} rounds; frames checked equal"
        ),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
