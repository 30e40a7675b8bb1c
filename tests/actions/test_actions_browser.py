"""The pages in a real headless browser (Debian chromium + chromedriver through Selenium): log in, preview,
confirm, see the result."""

from __future__ import annotations

import pytest
from conftest import OPERATOR, PASSWORD, rows
from plugins.tools import need_tool


@pytest.fixture
def browser():
    """Headless Chromium driven by Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    chromium = need_tool("chromium", "chromium-browser")
    driver_path = need_tool("chromedriver", "/usr/bin/chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_login_preview_confirm_result_in_a_browser(app, site, serve_app, browser):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(condition):
        # the page may be replaced between finding an element and reading it (the login redirect)
        return WebDriverWait(browser, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                             ).until(condition)
    base = serve_app(app)
    label = rows(site, "SELECT r.label FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                       " WHERE r.state = 'new' AND i.fault = 3 LIMIT 1")[0][0]
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "username").send_keys(OPERATOR)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    wait(lambda b: OPERATOR in b.find_element(By.TAG_NAME, "nav").text)

    browser.get(f"{base}/actions/revert?dbname=gpc1&stage=chip&label={label}&fault=3")
    argv = browser.find_element(By.CSS_SELECTOR, "code.argv").text
    assert argv.endswith(f"chiptool -revertprocessedimfile -label {label} -fault 3 -dbname gpc1")
    previewed = sum(int(e.text) for e in browser.find_elements(By.CSS_SELECTOR, "span.count"))
    shown = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert previewed >= 1 and len(shown) == previewed

    browser.find_element(By.ID, "confirm").click()
    status = wait(lambda b: b.find_elements(By.ID, "status"))
    assert status[0].text == "success"
    assert int(browser.find_element(By.ID, "rows-changed").text) == previewed
    assert rows(site, "SELECT COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                      " WHERE r.state = 'new' AND i.fault = 3 AND r.label = %s", (label,)) == [(0,)]
    browser.get(f"{base}/audit")
    assert f"label:gpc1/{label}" in browser.find_element(By.ID, "audit").text

    # a GET of another preview changes nothing; a POST from the page without the CSRF token is refused
    before = rows(site, "SELECT COUNT(*) FROM chipRun WHERE state = 'drop'")
    browser.get(f"{base}/actions/label-drop?dbname=gpc1&label={label}")
    assert "chiptool -updaterun -set_state drop" in browser.find_element(By.ID, "steps").text
    assert rows(site, "SELECT COUNT(*) FROM chipRun WHERE state = 'drop'") == before
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/actions/label-drop', {method: 'POST', body: new URLSearchParams({dbname: 'gpc1', label: arguments[0]})})"
        ".then(r => done(r.status), e => done(String(e)));", label)
    assert status == 400
    assert rows(site, "SELECT COUNT(*) FROM chipRun WHERE state = 'drop'") == before
