#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium driven by Selenium, as a new user would use it.

    browser_flow.py BASE_URL SCREENSHOT_DIR

register -> the enrolment QR code, screenshotted as the browser drew it and decoded by zbarimg -> a TOTP code from
pyotp -> backup codes -> a new paper bot running, its orders appearing without a reload (WebSocket) -> the kill
switch -> zero open orders; then every page at 390x844 and 1280x800. Fails on any console error or Content-Security-
Policy violation. Prints one JSON line: the seconds from the first page load to a running bot, and the screenshots.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pyotp
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SIZES = {"phone": (390, 844, True), "desktop": (1280, 800, False)}
WATCH = """
window.__tradekeepViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__tradekeepViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def find_binary(*names):
    for name in names:
        for folder in os.environ.get("PATH", "/usr/bin").split(":") + ["/usr/bin", "/usr/lib/chromium"]:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    fail("not found: " + " or ".join(names))


def main():
    base, shots = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    options = Options()
    options.binary_location = find_binary("chromium", "chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(find_binary("chromedriver")))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    problems = []
    pages_seen = []

    def size(name):
        width, height, mobile = SIZES[name]
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
        )

    def check_page():
        violations = driver.execute_script("return window.__tradekeepViolations || []")
        for violation in violations:
            problems.append("CSP violation on %s: %s" % (driver.current_url, violation))
        for entry in driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                problems.append("console error on %s: %s" % (driver.current_url, entry.get("message")))

    def shoot(name):
        """The current page at both sizes; the page is not reloaded, so a form's state survives."""
        check_page()
        for label in SIZES:
            size(label)
            driver.save_screenshot(os.path.join(shots, "%s-%s.png" % (name, label)))
        size("desktop")
        pages_seen.append(name)

    def visit(path, name):
        driver.get(base + path)
        shoot(name)

    def fill(name, value):
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)

    wait = WebDriverWait(driver, 60)
    email = "browser-%d@example.com" % int(time.time() * 1000)
    password = "a browser passphrase that is long"
    try:
        size("desktop")
        started = time.monotonic()
        driver.get(base + "/register")
        shoot("register")
        fill("email", email)
        fill("password", password)
        driver.find_element(By.CSS_SELECTOR, "form[action='/register'] button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "figure.qr svg"))
        check_page()
        # The QR code as the browser drew it, decoded by an independent reader.
        qr_png = os.path.join(shots, "qr-as-drawn.png")
        driver.find_element(By.CSS_SELECTOR, "figure.qr").screenshot(qr_png)
        decoded = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sbinary", qr_png], capture_output=True, text=True)
        if decoded.returncode != 0:
            fail("zbarimg could not read the enrolment QR code: " + decoded.stderr)
        uri = decoded.stdout.rstrip("\n")
        link = driver.find_element(By.ID, "otpauth-link").get_attribute("href")
        if uri != link:
            fail("the QR code says %r, the page's link %r" % (uri, link))
        secret = driver.find_element(By.ID, "totp-secret").text.strip()
        parsed = urllib.parse.urlparse(uri)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.scheme != "otpauth" or query.get("secret") != [secret] or query.get("issuer") != ["Tradekeep"]:
            fail("unexpected otpauth URI: " + uri)
        shoot("enrol")
        totp = pyotp.TOTP(secret)
        fill("code", totp.now())
        driver.find_element(By.CSS_SELECTOR, "form[action='/register/confirm'] button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "backup-codes"))
        codes = driver.find_elements(By.CSS_SELECTOR, "#backup-codes li")
        if len(codes) != 10:
            fail("%d backup codes shown" % len(codes))
        shoot("backup-codes")
        driver.find_element(By.LINK_TEXT, "I have saved them: continue").click()
        wait.until(lambda d: d.find_elements(By.ID, "kill-switch"))
        driver.find_element(By.LINK_TEXT, "New bot").click()
        wait.until(lambda d: d.find_elements(By.ID, "create-bot"))
        check_page()
        driver.find_element(By.ID, "create-bot").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary .status[data-status='running']"))
        seconds_to_running = time.monotonic() - started
        # Orders appear without a reload: the marker set now survives only if the page is never reloaded.
        driver.execute_script("window.__noReload = 'kept'")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-order-id]"))
        if driver.execute_script("return window.__noReload") != "kept":
            fail("the bot page reloaded instead of updating live")
        live_orders = len(driver.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-order-id]"))
        check_page()
        # A few more steps, then the page as drawn anew: its charts have prices to show.
        time.sleep(3)
        driver.refresh()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-order-id]"))
        shoot("bot")
        driver.find_element(By.LINK_TEXT, "Home").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-order-id]"))
        shoot("home")
        visit("/bots/new", "bot-new")
        visit("/keys", "keys")
        visit("/audit", "audit")
        visit("/security", "security")
        visit("/alerts", "alerts")
        driver.get(base + "/")
        driver.find_element(By.ID, "kill-switch").click()
        wait.until(lambda d: d.find_elements(By.ID, "confirm-kill"))
        shoot("kill-confirm")
        driver.find_element(By.ID, "confirm-kill").click()
        wait.until(lambda d: d.find_elements(By.ID, "kill-result"))
        shoot("kill-result")
        driver.get(base + "/")
        remaining = len(driver.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-order-id]"))
        if remaining != 0:
            fail("%d open orders after the kill switch" % remaining)
        driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action='/login']"))
        shoot("login")
        # Sign in again with password and a fresh code (the next 30-second step: a code works once).
        fill("email", email)
        fill("password", password)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.NAME, "mfa_token"))
        shoot("login-code")
        visit("/password/forgot", "password-forgot")
        visit("/password/reset", "password-reset")
        check_page()
    except Exception as error:  # a timeout or a missing element: say where
        fail("%s at %s" % (repr(error), driver.current_url))
    finally:
        driver.quit()
    if problems:
        fail("; ".join(problems))
    print(json.dumps({
        "ok": True,
        "seconds_to_running_bot": round(seconds_to_running, 1),
        "live_orders": live_orders,
        "screenshots": shots,
        "pages": pages_seen,
    }))


if __name__ == "__main__":
    main()
