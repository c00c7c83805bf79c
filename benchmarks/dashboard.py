"""Dashboard: fleet overview render time in headless Chromium vs a plain Plotly figure; drill-down latency.

Data: 1,000 entities (Kafka partitions, RabbitMQ and SQS queues) × 7 days × 1 minute, stored in a
temporary store as canonical rows: ``health_score`` (the heatmap's input, as the health room stores
it) and ``queue_depth_messages`` / ``consumer_lag_messages`` (the drill-down's series); 20.2 million rows. The values are
synthetic (a daily shape with noise and dips): this benchmark measures rendering and callback
latency, which do not depend on what the numbers mean.

Measured, side by side in one run:

- ``render_s``: navigation to a fully rendered overview page (heatmap drawn, no Dash callback
  pending) in headless Chromium, served by waitress; median of warm loads (the app's server-side
  cache already holds the frames). The cold first load is reported as ``render_cold_s``.
- ``baseline_plain_plotly_render_s``: the same data as a plain Plotly heatmap (every sample, no
  downsampling: 1,000 × 10,080 cells) written by ``plotly.io.write_html`` and opened in the same
  browser, navigation to drawn; median of the loads that finished.
- ``callback_p95_ms``: p95 of the drill-down callback (the routing callback that builds the
  entity view, over HTTP to ``/_dash-update-component``) for randomly chosen entities, each
  first seen cold (its series read from the store).

Both figures are SVG/canvas heatmaps (``go.Heatmap``, no WebGL); Chromium has no GPU here.
Run: ``python benchmarks/dashboard.py`` (full) or ``--quick`` (100 entities × 1 day, < 1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from waitress.server import create_server  # noqa: E402

from workbench.app import create_app  # noqa: E402
from workbench.app.urls import entity_href  # noqa: E402
from workbench.frames import CANONICAL_SCHEMA  # noqa: E402
from workbench.store import Store  # noqa: E402

DATASET = "bench-fleet"
T0 = np.datetime64("2026-01-05T00:00", "ms")


def entities(n: int) -> pl.DataFrame:
    """A mixed fleet of n entities."""
    kinds = [
        ("kafka", "kafka-1", "partition", "topic-{t}/{p}"),
        ("rabbitmq", "rabbit-1", "queue", "queue-{i}"),
        ("sqs", "acct/eu-west-1", "queue", "sqs-{i}"),
    ]
    rows = []
    for i in range(n):
        provider, cluster, level, pattern = kinds[i % 3]
        rows.append((provider, cluster, level, pattern.format(t=i // 30, p=i % 30, i=i)))
    return pl.DataFrame(rows, schema=["provider", "cluster", "level", "entity"], orient="row")


def fleet(n_entities: int, minutes: int, seed: int = 1) -> pl.DataFrame:
    """health_score and queue_depth_messages rows for every entity and minute."""
    rng = np.random.default_rng(seed)
    keys = entities(n_entities)
    ts = T0 + np.arange(minutes).astype("timedelta64[m]").astype("timedelta64[ms]")
    daily = np.sin(np.arange(minutes) / 1440 * 2 * np.pi)
    frames = []
    series_metric = np.where(
        keys["level"].to_numpy() == "partition", "consumer_lag_messages", "queue_depth_messages"
    )
    for metric in ("health_score", "series"):
        level = rng.uniform(50, 500, n_entities)[:, None]
        values = level * (1.3 + daily[None, :]) + rng.normal(0, 5, (n_entities, minutes))
        if metric == "health_score":
            values = np.clip(100 - np.abs(rng.normal(0, 4, (n_entities, minutes))), 0, 100)
            dips = rng.integers(0, minutes - 60, n_entities // 10)
            for row, start in zip(rng.choice(n_entities, len(dips), replace=False), dips, strict=True):
                values[row, start : start + 60] = rng.uniform(5, 40)
        frames.append(
            pl.DataFrame(
                {
                    "ts": np.tile(ts, n_entities),
                    "provider": np.repeat(keys["provider"].to_numpy(), minutes),
                    "cluster": np.repeat(keys["cluster"].to_numpy(), minutes),
                    "level": np.repeat(keys["level"].to_numpy(), minutes),
                    "entity": np.repeat(keys["entity"].to_numpy(), minutes),
                    "metric": np.repeat(series_metric, minutes) if metric == "series" else metric,
                    "value": np.abs(values).ravel(),
                    "source": "file:benchmark",
                }
            )
        )
    frame = pl.concat(frames).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    return frame.cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]


def chrome() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--js-flags=--max-old-space-size=8192",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(600)
    driver.set_script_timeout(600)
    return driver


RENDERED = """
const loading = document.querySelectorAll('[data-dash-is-loading="true"]').length;
const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
const drawn = plots.filter(p => p._fullLayout && p.querySelector('.main-svg') &&
                               p.querySelector('.hm, .heatmaplayer image, image')).length;
return loading === 0 && drawn >= arguments[0];
"""


def time_to_rendered(driver: webdriver.Chrome, url: str, graphs: int, timeout: float) -> float:
    """Seconds from navigation to ``graphs`` heatmaps drawn with no Dash callback pending."""
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(url)
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if driver.execute_script(RENDERED, graphs):
            # one more animation frame so the paint is done
            driver.execute_script("return new Promise(r => requestAnimationFrame(() => r(1)))")
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(f"{url} not rendered within {timeout}s")


def callback_latencies(base: str, keys: pl.DataFrame, n: int, seed: int) -> list[float]:
    """Milliseconds per drill-down callback request, each entity seen for the first time."""
    rng = np.random.default_rng(seed)
    picks = keys[rng.choice(keys.height, min(n, keys.height), replace=False).tolist()]
    session = requests.Session()
    out = []
    for row in picks.iter_rows(named=True):
        search = (
            "?"
            + entity_href(DATASET, row["provider"], row["cluster"], row["level"], row["entity"]).split("?")[1]
        )
        # The drill-down is the routing callback for /entity (it builds the entity view).
        payload = {
            "output": "page.children",
            "outputs": {"id": "page", "property": "children"},
            "inputs": [
                {"id": "url", "property": "pathname", "value": "/entity"},
                {"id": "url", "property": "search", "value": search},
            ],
            "changedPropIds": ["url.search"],
            "state": [],
        }
        start = time.perf_counter()
        response = session.post(base + "/_dash-update-component", json=payload, timeout=60)
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        body = response.json()
        assert "en-panels" in json.dumps(body), "the callback did not return the entity panels"
        out.append(elapsed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 entities × 1 day (< 1 min)")
    parser.add_argument("--entities", type=int, default=None)
    parser.add_argument("--days", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n_entities = args.entities or (100 if args.quick else 1000)
    minutes = int((args.days or (1 if args.quick else 7)) * 1440)
    repeats = 3 if args.quick else args.repeats

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        frame = fleet(n_entities, minutes)
        store = Store(tmp_path / "store")
        store.append(DATASET, frame, source="file:benchmark")
        keys = entities(n_entities)
        print(
            f"stored {frame.height:,} rows ({n_entities} entities × {minutes} minutes × 2 metrics) "
            f"in {time.perf_counter() - t:.1f}s"
        )

        app = create_app(store, registry=CollectorRegistry(), credentials=None, reports_dir=tmp_path)
        server = create_server(app.server, host="127.0.0.1", port=0, threads=4)
        base = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        driver = chrome()
        try:
            url = f"{base}/?dataset={DATASET}"
            cold = time_to_rendered(driver, url, 1, 300)
            warm = [time_to_rendered(driver, url, 1, 120) for _ in range(repeats)]
            heat = driver.execute_script(
                "const p = document.querySelector('#ov-heatmap .js-plotly-plot'); "
                "const z = p.calcdata[0][0].z; return [z.length, z[0].length];"
            )
            driver.save_screenshot(str(tmp_path / "overview.png"))
            latencies = callback_latencies(base, keys, 30 if args.quick else 100, seed=2)

            # Baseline: the same health data as one plain Plotly heatmap with every sample.
            import plotly.graph_objects as go

            health = frame.filter(pl.col("metric") == "health_score").sort("entity", "ts")
            matrix = health.get_column("value").to_numpy().reshape(n_entities, minutes)
            labels = health.get_column("entity").unique(maintain_order=True).to_list()
            times = health.get_column("ts").head(minutes).to_numpy()
            t = time.perf_counter()
            fig = go.Figure(go.Heatmap(z=matrix, x=times, y=labels, zmin=0, zmax=100))
            baseline_html = tmp_path / "baseline.html"
            fig.write_html(baseline_html, include_plotlyjs="directory", full_html=True)
            write_s = time.perf_counter() - t
            size_mb = baseline_html.stat().st_size / 1e6
            baseline: list[float] = []
            baseline_error = None
            for _ in range(1 if not args.quick else repeats):
                try:
                    baseline.append(time_to_rendered(driver, baseline_html.as_uri(), 1, 600))
                except Exception as err:  # a browser that gives up is a result too; say so
                    baseline_error = f"{type(err).__name__}: {str(err)[:200]}"
                    break
        finally:
            driver.quit()
            server.close()

    render_s = statistics.median(warm)
    figures: dict[str, Any] = {
        "render_s": round(render_s, 3),
        "render_cold_s": round(cold, 3),
        "baseline_plain_plotly_render_s": round(statistics.median(baseline), 3) if baseline else None,
        "callback_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "callback_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "entities": n_entities,
        "minutes": minutes,
        "heatmap_cells_sent": int(heat[0] * heat[1]),
        "baseline_cells_sent": int(n_entities * minutes),
        "baseline_html_mb": round(size_mb, 1),
        "baseline_write_s": round(write_s, 2),
    }
    rows = [
        ("overview page, warm (median)", f"{render_s:.3f} s", f"{heat[0]}×{heat[1]} cells"),
        ("overview page, cold first load", f"{cold:.3f} s", "reads + buckets the store"),
        (
            "plain Plotly heatmap (baseline)",
            f"{figures['baseline_plain_plotly_render_s']} s" if baseline else f"failed: {baseline_error}",
            f"{n_entities}×{minutes} cells, {size_mb:.0f} MB HTML",
        ),
        (
            "drill-down callback p50 / p95",
            f"{figures['callback_p50_ms']} / {figures['callback_p95_ms']} ms",
            f"{len(latencies)} entities, cold",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  {'time':>14}  note")
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value:>14}  {note}")
    print("\ntargets: render <= 1 s; callback p95 <= 200 ms")
    print(
        f"1-minute load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if baseline_error:
        figures["baseline_error"] = baseline_error
    import dash
    import plotly
    import selenium

    result = {
        "figures": {k: v for k, v in figures.items() if isinstance(v, int | float)},
        "notes": {
            "baseline_error": baseline_error,
            "renderer": "SVG/canvas heatmap (no WebGL), headless Chromium",
            "quick": args.quick,
            "load_average_1m_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
            "shared_machine": "other engineers' jobs ran concurrently; times include that contention",
        },
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "dash": dash.__version__,
            "plotly": plotly.__version__,
            "polars": pl.__version__,
            "selenium": selenium.__version__,
            "chromium": driver.capabilities.get("browserVersion") if driver else None,
        },
    }
    out = ROOT / "benchmarks" / "results" / ("dashboard-quick.json" if args.quick else "dashboard.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
