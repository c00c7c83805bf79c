"""The app in a real headless Chromium (Debian chromium + chromedriver, selenium 4).

Each test saves a screenshot under tests/artifacts/. These tests fail (never
skip) when Chromium or chromedriver is missing.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from prometheus_client import CollectorRegistry
from selenium import webdriver
from selenium.common.exceptions import ElementClickInterceptedException, NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from waitress.server import create_server

from tests.app_fixtures import DATASET, XSS_QUEUE, build_store
from workbench.app import create_app
from workbench.app.urls import entity_href

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class LiveServer:
    """A waitress server for one app on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.server = create_server(app.server, host="127.0.0.1", port=0, threads=6)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


def _driver() -> webdriver.Chrome:
    assert Path(CHROMIUM).exists(), "Debian package chromium is required: apt-get install chromium"
    assert Path(CHROMEDRIVER).exists(), (
        "Debian package chromium-driver is required: apt-get install chromium-driver"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    store = build_store(tmp_path_factory.mktemp("store"))
    app = create_app(
        store, registry=CollectorRegistry(), reports_dir=tmp_path_factory.mktemp("reports"), credentials=None
    )
    live = LiveServer(app)
    yield live
    live.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver = _driver()
    yield driver
    driver.quit()


def wait_rendered(driver: webdriver.Chrome, *, graphs: int = 0, timeout: float = 30.0) -> None:
    """Wait until Dash has no pending callback and at least ``graphs`` Plotly graphs are drawn."""
    script = """
        const loading = document.querySelectorAll('[data-dash-is-loading="true"]').length;
        const page = document.getElementById('page');
        const drawn = document.querySelectorAll('.js-plotly-plot .main-svg').length;
        return [loading, page ? page.childElementCount : 0, drawn];
    """
    deadline = time.time() + timeout
    stable = 0
    while time.time() < deadline:
        loading, children, drawn = driver.execute_script(script)
        if loading == 0 and children > 0 and drawn >= graphs:
            stable += 1
            if stable >= 3:
                return
        else:
            stable = 0
        time.sleep(0.1)
    raise AssertionError(f"page not rendered in {timeout}s (loading={loading}, graphs={drawn})")


def severe_logs(driver: webdriver.Chrome) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def shot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def click(driver: webdriver.Chrome, element: Any) -> None:
    """Scroll to an element and click it (a DOM click when the pointer cannot reach it, e.g.
    at the very bottom of a page that is still growing)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        driver.execute_script("arguments[0].click();", element)


def _no_alert(driver: webdriver.Chrome) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - property access raises when there is none
    except NoAlertPresentException:
        return True
    return False


ORDERS_1 = entity_href(DATASET, "kafka", "k1", "partition", "orders/1")


@pytest.mark.parametrize(
    ("name", "path", "graphs"),
    [
        ("overview", f"/?dataset={DATASET}", 0),
        ("entity", ORDERS_1, 1),
        ("fidelity", "/fidelity", 2),
        ("lab", "/lab", 0),
        ("reports", "/reports", 0),
    ],
)
def test_every_page_loads_without_console_errors(
    server: LiveServer, browser: webdriver.Chrome, name: str, path: str, graphs: int
) -> None:
    browser.get_log("browser")  # drop earlier entries
    browser.get(server.url + path)
    wait_rendered(browser, graphs=graphs)
    shot(browser, f"page-{name}")
    assert severe_logs(browser) == []
    assert "Traceback" not in browser.page_source


def test_drill_down_click_through_and_breadcrumbs(server: LiveServer, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/?dataset={DATASET}")
    wait_rendered(browser)
    click(browser, browser.find_element(By.LINK_TEXT, "orders/1"))
    wait_rendered(browser, graphs=1)
    assert browser.current_url.startswith(server.url + "/entity?")
    assert browser.find_element(By.ID, "en-title").text == "orders/1"
    shot(browser, "drill-entity")
    # up the topology through the breadcrumb, then back down through a related-entity link
    click(browser, browser.find_element(By.LINK_TEXT, "topic orders"))
    wait_rendered(browser, graphs=1)
    assert browser.find_element(By.ID, "en-title").text == "orders"
    click(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "child: partition orders/0"))
    wait_rendered(browser, graphs=1)
    assert browser.find_element(By.ID, "en-title").text == "orders/0"
    shot(browser, "drill-related")
    assert severe_logs(browser) == []


def test_heatmap_click_drills_down_to_the_entity(server: LiveServer, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/?dataset={DATASET}")
    wait_rendered(browser, graphs=1)
    labels = browser.execute_script(
        "return Array.from(document.querySelector('#ov-heatmap .js-plotly-plot').data[0].y);"
    )
    row = next(i for i, label in enumerate(labels) if label.endswith("orders/1"))
    layer = browser.find_element(By.CSS_SELECTOR, "#ov-heatmap .nsewdrag")
    size = layer.size
    # rows run top to bottom (reversed axis); click the middle of the row, a third into the week
    y = int((row + 0.5) / len(labels) * size["height"] - size["height"] / 2)
    ActionChains(browser).move_to_element_with_offset(layer, int(-size["width"] / 6), y).click().perform()
    deadline = time.time() + 10
    while "/entity?" not in browser.current_url and time.time() < deadline:
        time.sleep(0.1)
    wait_rendered(browser, graphs=1)
    assert browser.find_element(By.ID, "en-title").text == "orders/1"
    shot(browser, "drill-from-heatmap")
    assert severe_logs(browser) == []


def test_topology_node_click_drills_down(server: LiveServer, browser: webdriver.Chrome) -> None:
    browser.get(f"{server.url}/?dataset={DATASET}")
    wait_rendered(browser, graphs=2)
    custom = browser.execute_script(
        "return document.querySelector('#ov-topology .js-plotly-plot').data[1].customdata;"
    )
    index = next(i for i, c in enumerate(custom) if c[3] == "orders" and c[2] == "topic")
    point = browser.find_elements(
        By.CSS_SELECTOR, "#ov-topology .scatterlayer .trace:nth-child(2) path.point"
    )[index]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    ActionChains(browser).move_to_element(point).click().perform()
    deadline = time.time() + 10
    while "/entity?" not in browser.current_url and time.time() < deadline:
        time.sleep(0.1)
    wait_rendered(browser, graphs=1)
    assert browser.find_element(By.ID, "en-title").text == "orders"
    shot(browser, "drill-from-topology")
    assert severe_logs(browser) == []


def test_a_shared_url_restores_the_view(server: LiveServer, browser: webdriver.Chrome) -> None:
    browser.get(server.url + ORDERS_1)
    wait_rendered(browser, graphs=1)
    # untick consumer_lag_seconds; the URL follows
    box = browser.find_element(By.CSS_SELECTOR, "#en-metrics input[value='consumer_lag_seconds']")
    click(browser, box)
    deadline = time.time() + 20

    def panel_titles(driver: webdriver.Chrome) -> list[str]:
        texts = driver.execute_script(
            "return Array.from(document.querySelectorAll('#en-panels .annotation-text')).map(e => e.textContent);"
        )
        return [t for t in texts if t.startswith("consumer_lag")]

    # the URL follows and the page re-renders from it with one panel left
    while (
        "metrics=" not in browser.current_url or len(panel_titles(browser)) != 1
    ) and time.time() < deadline:
        time.sleep(0.1)
    wait_rendered(browser, graphs=1)
    start = browser.find_element(By.ID, "en-start")
    start.send_keys("2026-01-06T00:00\n")
    deadline = time.time() + 10
    while "start=" not in browser.current_url and time.time() < deadline:
        time.sleep(0.1)
    wait_rendered(browser, graphs=1)
    shared = browser.current_url
    assert "metrics=consumer_lag_messages" in unquote(shared)
    assert "start=2026-01-06T00:00" in unquote(shared)
    titles_before = panel_titles(browser)
    # a fresh browser opening the shared link sees the same view
    other = _driver()
    try:
        other.get(shared)
        wait_rendered(other, graphs=1)
        checked = [
            e.get_attribute("value")
            for e in other.find_elements(By.CSS_SELECTOR, "#en-metrics input")
            if e.is_selected()
        ]
        assert checked == ["consumer_lag_messages"]
        assert other.find_element(By.ID, "en-start").get_attribute("value") == "2026-01-06T00:00"
        titles_after = panel_titles(other)
        assert titles_after == titles_before
        assert titles_after[0].startswith("consumer_lag_messages")
        shot(other, "shared-url")
        assert severe_logs(other) == []
    finally:
        other.quit()


def test_scenario_lab_shows_live_updates(server: LiveServer, browser: webdriver.Chrome) -> None:
    browser.get(server.url + "/lab?scenario=default")
    wait_rendered(browser)
    click(browser, browser.find_element(By.ID, "lab-start"))  # the real simulator's live fleet

    def ticks() -> int:
        text = browser.find_element(By.ID, "lab-status").text
        line = next((ln for ln in text.splitlines() if ln.startswith("ticks:")), "ticks: 0")
        return int(line.split(":")[1])

    def points() -> int:
        return int(
            browser.execute_script(
                "const p = document.querySelector('#lab-live-graph .js-plotly-plot');"
                "return p && p.data && p.data.length ? p.data[0].x.length : 0;"
            )
        )

    try:
        deadline = time.time() + 30
        while time.time() < deadline and points() == 0:
            time.sleep(0.2)
        first_ticks, first_points = ticks(), points()
        assert first_points > 0, "no live chart appeared"
        time.sleep(3)
        assert ticks() > first_ticks and points() > first_points  # the page follows the running fleet
        shot(browser, "lab-live")
        click(browser, browser.find_element(By.ID, "lab-stop"))
        deadline = time.time() + 20
        while "recorded as dataset lab-default-" not in browser.find_element(By.ID, "lab-message").text:
            assert time.time() < deadline, browser.find_element(By.ID, "lab-message").text
            time.sleep(0.2)
    finally:
        if requests.get(server.url + "/api/lab/status", timeout=5).json()["state"] in ("running", "paused"):
            requests.post(server.url + "/api/lab/stop", json={"record": False}, timeout=10)
    assert severe_logs(browser) == []


def test_script_payloads_in_queue_names_are_shown_as_text(
    server: LiveServer, browser: webdriver.Chrome
) -> None:
    browser.get(server.url + entity_href(DATASET, "rabbitmq", "r1", "queue", XSS_QUEUE))
    wait_rendered(browser, graphs=1)
    assert _no_alert(browser)
    assert browser.find_element(By.ID, "en-title").text == XSS_QUEUE
    assert not browser.find_elements(By.CSS_SELECTOR, "#page script, #page img[src='x']")
    browser.get(f"{server.url}/?dataset={DATASET}&levels=queue")
    wait_rendered(browser)
    assert _no_alert(browser)
    shot(browser, "xss-escaped")
    assert severe_logs(browser) == []


def test_auth_rejects_a_request_without_credentials(tmp_path: Path, browser: webdriver.Chrome) -> None:
    store = build_store(tmp_path / "store", minutes=300)
    app = create_app(store, registry=CollectorRegistry(), credentials=("ops", "s3cret"))
    live = LiveServer(app)
    try:
        assert requests.get(live.url + "/", timeout=5).status_code == 401
        assert requests.get(live.url + "/api/lab/status", timeout=5).status_code == 401
        assert requests.get(live.url + "/", auth=("ops", "bad"), timeout=5).status_code == 401
        assert requests.get(live.url + "/", auth=("ops", "s3cret"), timeout=5).status_code == 200
        browser.get(live.url + "/")  # Chromium answers the 401 challenge with an empty page
        assert not browser.find_elements(By.ID, "react-entry-point")
        shot(browser, "auth-rejected")
        token = base64.b64encode(b"ops:s3cret").decode()
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
        )
        browser.get(live.url + f"/?dataset={DATASET}")
        wait_rendered(browser)
        assert browser.find_elements(By.ID, "ov-stats")
        shot(browser, "auth-accepted")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        browser.get_log("browser")
        live.close()
