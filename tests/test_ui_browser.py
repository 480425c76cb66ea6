"""The connection form and the Test button of a real Airflow 3 UI, driven in headless Chromium.

For each connection type a user's steps: Admin -> Connections -> Add, fill the
form (optional fields left as they are), save, press the row's Test button, and
read what the UI shows. The connections point at the sandbox. Needs Chromium and
chromedriver (Debian: ``chromium``, ``chromium-driver``) and selenium (the ``ui``
extra); ``make test-ui`` installs them and runs this module (marker ``browser``).
Screenshots go to ``$PIPELINES_UI_SCREENSHOTS`` (default: a temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_pipelines import get_provider_info
from tests.real_airflow import RealAirflow
from tests.ui_airflow import call, delete_connection, ui_airflow
from tests.ui_forms import SANDBOX_TYPES, UI_SAVED_EXTRAS, sandbox_fields

pytestmark = [pytest.mark.browser, pytest.mark.airflow3_only]

CHROMIUM = os.environ.get("PIPELINES_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PIPELINES_CHROMEDRIVER", "/usr/bin/chromedriver")
#: without these, Chromium waits on the network for updates, sync and the like, and hangs
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]
WAIT = 30.0

#: what the Test button's toast says on success, per type (the hook's own message)
SUCCESS_TEXT = {
    "dataform_web": "did not refuse the token",
    "profitbase_invision": "did not refuse the API key",
    "dataops_live": "Authenticated to",
    "remote_airflow": "Connected: /api/v2",
}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("PIPELINES_UI_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAirflow]:
    with ui_airflow(tmp_path_factory.mktemp("ui-airflow")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(airflow: RealAirflow, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(path), f"{path} is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    try:
        log_in(driver, airflow)
        yield driver
    finally:
        driver.quit()


# -- a user's steps ------------------------------------------------------------------------------------


def wait(driver: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT)


def log_in(driver: Any, airflow: RealAirflow) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{airflow.url}/auth/login?next=%2Fconnections")
    user = wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name=username]")))
    time.sleep(0.5)  # the login page's script attaches its handlers just after the input appears
    user.click()
    user.send_keys("admin")
    password = driver.find_element(By.CSS_SELECTOR, "input[name=password]")
    password.click()
    password.send_keys(airflow.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(lambda d: d.current_url.endswith("/connections"))


def open_add_form(driver: Any, airflow: RealAirflow) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{airflow.url}/connections")
    add = (By.XPATH, "//button[normalize-space()='Add Connection']")
    wait(driver).until(ec.element_to_be_clickable(add)).click()
    return wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))


def choose_type(dialog: Any, type_name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    chooser = dialog.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    chooser.send_keys(type_name)
    chooser.send_keys(Keys.ENTER)


def field(driver: Any, dialog: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, f"[role=dialog] [name={name}]")))
    return dialog.find_element(By.CSS_SELECTOR, f"[name={name}]")


def open_section(driver: Any, dialog: Any, title: str) -> None:
    from selenium.webdriver.common.by import By

    button = dialog.find_element(
        By.XPATH, f".//button[@data-part='item-trigger'][normalize-space()='{title}']"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    wait(driver).until(lambda _: button.get_attribute("aria-expanded") == "true")


#: how many lines each label's text takes (its line boxes), whatever the height of its row
_LABEL_LINES = """
const lines = {};
for (const label of arguments[0].querySelectorAll("label[data-part=label]")) {
  if (!label.offsetParent) continue;
  const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
  const rects = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim() || node.parentElement.closest("[data-part=required-indicator]")) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    rects.push(...[...range.getClientRects()].filter(r => r.width > 0));
  }
  rects.sort((a, b) => a.top - b.top);
  let count = 0, lastTop = -1e9;
  for (const r of rects) { if (r.top - lastTop > r.height / 2) { count += 1; lastTop = r.top; } }
  lines[label.textContent.replace("*", "").trim()] = count;
}
return lines;
"""


def wrapped_labels(driver: Any, dialog: Any) -> dict[str, int]:
    """The visible labels whose text takes more than one line, with their line counts."""
    lines = driver.execute_script(_LABEL_LINES, dialog)
    assert lines, "no label found"
    return {label: count for label, count in lines.items() if count > 1}


def toasts(driver: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast][data-part=root]")
    return {toast.get_attribute("id"): toast for toast in found}


def press_test(driver: Any, conn_id: str) -> Any:
    """Press the row's Test button; the toast that answers it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    row = (By.XPATH, f"//tr[td[normalize-space()='{conn_id}']]")
    button = (
        wait(driver)
        .until(ec.presence_of_element_located(row))
        .find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
    )
    before = set(toasts(driver))
    wait(driver).until(ec.element_to_be_clickable(button)).click()

    def answer(d: Any) -> Any:
        fresh = [t for tid, t in toasts(d).items() if tid not in before and "Test Connection" in t.text]
        return fresh[0] if fresh else False

    return wait(driver).until(answer)


# -- the test --------------------------------------------------------------------------------------------


def declared(conn_type: str) -> dict[str, Any]:
    return next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)


@pytest.mark.parametrize("conn_type", list(SANDBOX_TYPES))
def test_add_a_connection_in_the_form_and_test_it_from_its_row(browser, airflow, sandbox, shots, conn_type):
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    conn_id = f"ui_{conn_type}"
    delete_connection(airflow, conn_id)
    type_name = SANDBOX_TYPES[conn_type][0]
    typed = sandbox_fields(sandbox.url, conn_type)
    form = declared(conn_type)

    dialog = open_add_form(browser, airflow)
    field(browser, dialog, "connection_id").send_keys(conn_id)
    choose_type(dialog, type_name)
    for name in ("host", "port", "password"):  # what a user types; login and the extras left as they are
        field(browser, dialog, name).send_keys(str(typed[name]))
    placeholders = form["ui-field-behaviour"]["placeholders"]
    assert field(browser, dialog, "host").get_attribute("placeholder") == placeholders["host"]
    assert wrapped_labels(browser, dialog) == {}
    browser.save_screenshot(str(shots / f"ui-form-{conn_type}.png"))

    open_section(browser, dialog, "Extra Fields")
    switch = dialog.find_element(By.CSS_SELECTOR, "input[name=element_verify_ssl]")
    assert switch.is_selected(), "the TLS switch must start on, as the hook's default is"
    for spec in form["conn-fields"].values():  # help texts show under their fields
        assert dialog.find_element(By.XPATH, f".//*[normalize-space()={json.dumps(spec['description'])}]")
    assert wrapped_labels(browser, dialog) == {}
    browser.save_screenshot(str(shots / f"ui-form-{conn_type}-extras.png"))

    save = dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
    save.click()
    wait(browser).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))

    status, stored = call(airflow, "GET", f"connections/{conn_id}")
    assert status == 200, stored
    assert (stored["host"], stored["port"], stored["login"]) == (typed["host"], typed["port"], None)
    assert json.loads(stored["extra"]) == UI_SAVED_EXTRAS[conn_type]

    toast = press_test(browser, conn_id)
    browser.save_screenshot(str(shots / f"ui-test-{conn_type}.png"))
    assert toast.get_attribute("data-type") == "success", toast.text
    assert "Test Connection Successful" in toast.text and SUCCESS_TEXT[conn_type] in toast.text, toast.text
    print(f"{conn_type}: form, save and Test in {time.monotonic() - started:.1f}s")
