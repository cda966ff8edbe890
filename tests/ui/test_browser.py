"""A curator's path through the page in a real browser, on the real trained models.

Debian's chromium, driven by Selenium through Debian's chromedriver (both paths given,
so Selenium Manager never looks for, or downloads, anything), headless and with
every background network feature off. The test starts ``bentoml serve`` of the
trained home (real ClinGen-trained champions and the real store) on loopback with
one curator's key, then: signs in, uploads a TSV of store variants as a new queue,
filters it by gene, moves to a row with the keyboard and opens it, records a
decision, reloads and finds it kept, reads the same record through the JSON API,
and finds it on disk after a ``kill -9`` of the service. It saves the two
screenshots the README shows (``docs/images/ui-queue.png``, ``ui-variant.png``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CURATOR, KEY
from homes import PROJECT_ROOT
from servers import Server, kill_tree, serving

from vipredict.config import Settings
from vipredict.queue.store import QueueStore
from vipredict.store.partitioned import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IMAGES = PROJECT_ROOT / "docs" / "images"
#: Genes of the uploaded queue (store variants of each), and the one the curator filters by.
GENES = ("TP53", "PTEN", "MLH1", "MSH2", "CDH1")
FILTER_GENE = "TP53"
NOTE = "Reviewed in the browser test: evidence consistent with the literature summary."
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _missing_browser() -> str | None:
    """Why the browser test cannot run here, or None (``.ci/run`` installs both packages)."""
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        return (
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver; .ci/run does it as root)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _upload_file(home: Settings, folder: Path) -> Path:
    """A TSV of the real store's variants in :data:`GENES`, as a curator would bring."""
    table = Store.open(home).read_all()
    keys = table.loc[table["gene"].isin(GENES), "variant"].astype(str).sort_values()
    path = folder / "five-genes.tsv"
    path.write_text("variant\n" + "\n".join(keys) + "\n")
    return path


def _wait(driver, condition, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _screenshot(driver, name: str, height: int) -> Path:
    """A small palette PNG of the page at ``height`` pixels (fit for a README)."""
    from PIL import Image

    driver.set_window_size(1400, height)
    driver.execute_script("window.scrollTo(0, 0)")  # WebDriver's own script, not the page's
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    driver.save_screenshot(str(path))
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=96, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    driver.set_window_size(1400, 1000)
    return path


def _sign_in(driver, server: Server) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/ui")
    assert "Sign in" in driver.title  # keys are set: even reading needs the key
    field = driver.find_element(By.ID, "api_key")
    field.send_keys(KEY)
    field.submit()
    _wait(driver, lambda d: "Signed in as" in d.page_source)


def _upload(driver, server: Server, path: Path) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.find_element(By.ID, "file").send_keys(str(path))
    Select(driver.find_element(By.ID, "format")).select_by_value("tsv")
    driver.find_element(By.ID, "name").send_keys("Five cancer genes")
    driver.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    _wait(driver, lambda d: "/ui/queue/" in d.current_url, timeout=300)
    return driver.current_url.rstrip("/").split("/")[-1]


def _filter_by_gene(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    gene = driver.find_element(By.ID, "gene")
    gene.clear()
    gene.send_keys(FILTER_GENE)
    gene.submit()
    _wait(driver, lambda d: f"gene={FILTER_GENE}" in d.current_url)
    rows = driver.find_elements(By.CSS_SELECTOR, "#items tbody tr[data-row]")
    return [row.find_elements(By.TAG_NAME, "td")[2].text for row in rows]


def _open_first_by_keyboard(driver) -> str:
    """j puts the first row in focus (visibly), Enter opens its variant."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.TAG_NAME, "h1").click()  # leave the filter field
    ActionChains(driver).send_keys("j").perform()
    current = driver.find_element(By.CSS_SELECTOR, "#items tr.current")
    focused = driver.switch_to.active_element
    assert focused.get_attribute("data-row-link") is not None
    assert focused.value_of_css_property("outline-style") == "solid"  # the focus shows
    key = focused.text
    assert current.find_element(By.CSS_SELECTOR, "a").text == key
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    _wait(driver, lambda d: "/variant/" in d.current_url)
    return key


def _decide(driver) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(driver).send_keys("a").perform()  # a = accept
    assert driver.find_element(By.CSS_SELECTOR, "input[value=accept]").is_selected()
    note = driver.find_element(By.ID, "note")
    note.send_keys(NOTE)
    driver.find_element(By.CSS_SELECTOR, "#decide button[type=submit]").click()
    _wait(driver, lambda d: "Decision saved" in d.page_source)


def test_a_curator_walks_the_queue_in_a_real_browser(
    browser, trained_home: Settings, tmp_path: Path
):
    from selenium.webdriver.common.by import By

    driver = browser
    db = tmp_path / "queue.db"
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    env = {"VIPREDICT_API_KEYS": f"{CURATOR}:{KEY}", "VIPREDICT_QUEUE_URL": f"sqlite:///{db}"}
    upload = _upload_file(trained_home, tmp_path)
    with serving(trained_home, scratch, **env) as server:
        _sign_in(driver, server)
        queue_id = _upload(driver, server, upload)
        genes = _filter_by_gene(driver)
        assert genes and set(genes) == {FILTER_GENE}
        _screenshot(driver, "ui-queue.png", 1000)
        key = _open_first_by_keyboard(driver)
        assert key in driver.title
        for chart in ("calib-t", "contrib-t", "freq-t"):  # the three server-drawn charts
            assert driver.find_element(By.ID, chart).get_attribute("textContent")
        _decide(driver)
        driver.refresh()  # a GET again (the 303 made the saved page one)
        history = driver.find_element(By.ID, "history").text
        assert NOTE in history and CURATOR in history and "accept" in history
        _screenshot(driver, "ui-variant.png", 2900)
        api = httpx.get(f"{server.url}/queue/{queue_id}", headers={"X-API-Key": KEY}, timeout=60)
        item = next(i for i in api.json()["items"] if i["variant"] == key)
        assert (item["decision"], item["curator"], item["note"]) == ("accept", CURATOR, NOTE)
        kill_tree(server.process)  # SIGKILL: no clean shutdown
    history = QueueStore(f"sqlite:///{db}").history(queue_id)
    kept = history[history["variant"] == key]
    assert kept[["decision", "curator", "note"]].values.tolist() == [["accept", CURATOR, NOTE]]
    for name in ("ui-queue.png", "ui-variant.png"):
        assert (IMAGES / name).stat().st_size < 400_000


def test_the_chromium_it_drives_is_debians():
    """The test's browser is the Debian package (no browser download anywhere)."""
    if _missing_browser():
        pytest.skip(_missing_browser())
    version = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert "Chromium" in version and shutil.which("chromedriver") == str(CHROMEDRIVER)
