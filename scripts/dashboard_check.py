#!/usr/bin/python3
"""Drives the daemon's dashboard in a real browser (Debian's Chromium, headless,
through Selenium and chromium-driver) as a user would: sign in with the token,
find the run in the list, open it, watch its candidates and training progress
arrive over the event stream, stop it with the button. Prints what it saw as
JSON; exits 1 with the reason at the first thing that does not happen.

    scripts/dashboard_check.py --url http://127.0.0.1:PORT --token TOKEN --run RUN [--timeout 90] [--screenshot PNG]

Run with the build's Python environment (scripts/python-env.sh), which has Selenium.
"""
import argparse
import json
import shutil
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def fail(message, seen):
    print(json.dumps(dict(seen, failed=message), indent=1))
    sys.exit(1)


def wait(condition, timeout, what, seen):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # the page may be between loads
            pass
        time.sleep(0.2)
    fail(f"timed out after {timeout} s waiting for {what}", seen)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--screenshot", help="PNG of the run page at the end")
    a = p.parse_args()

    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    seen = {}
    try:
        # Unsigned, the dashboard leads to the sign-in form; a wrong token is refused there.
        driver.get(a.url + "/")
        wait(lambda: driver.current_url.endswith("/login"), 10, "the redirect to /login", seen)
        driver.find_element(By.NAME, "token").send_keys("not-the-token-at-all")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(lambda: "not this daemon's token" in driver.page_source, 10, "the refusal of a wrong token", seen)
        driver.find_element(By.NAME, "token").send_keys(a.token)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#runs tr[data-run="{a.run}"]'), 10,
                   f"run {a.run} in the list", seen)
        seen["listed_state"] = row.find_element(By.CSS_SELECTOR, ".state").text

        cookies = {c["name"]: c for c in driver.get_cookies()}
        token_cookie = cookies.get("nasd_token", {})
        seen["cookie_http_only"] = token_cookie.get("httpOnly")
        seen["cookie_same_site"] = token_cookie.get("sameSite")
        seen["token_visible_to_scripts"] = a.token in driver.execute_script("return document.cookie")
        if not seen["cookie_http_only"] or seen["cookie_same_site"] != "Strict" or seen["token_visible_to_scripts"]:
            fail("the token cookie must be HttpOnly and SameSite=Strict", seen)

        row.find_element(By.TAG_NAME, "a").click()
        wait(lambda: driver.find_element(By.ID, "candidates"), 10, "the run page", seen)
        rows = lambda: len(driver.find_elements(By.CSS_SELECTOR, "#candidates tbody tr"))
        seen["plot_svg"] = len(driver.find_elements(By.CSS_SELECTOR, "#plot svg")) == 1
        seen["log_at_load"] = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
        if not seen["plot_svg"] or seen["log_at_load"] == 0:
            fail("the run page lacks its Pareto plot or its event log", seen)
        seen["rows_at_load"] = rows()
        seen["done_at_load"] = int(driver.find_element(By.ID, "done").text)
        # Live: training progress, then a committed candidate, both from the event stream.
        seen["live"] = wait(lambda: (lambda t: t if "epoch" in t else None)(driver.find_element(By.ID, "live").text),
                            a.timeout, "training progress on the page", seen)
        seen["epoch_bar"] = float(driver.find_element(By.ID, "epoch").get_attribute("value"))
        wait(lambda: rows() > seen["rows_at_load"], a.timeout, "a new candidate row from the event stream", seen)
        wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#log li")) > seen["log_at_load"], 10,
             "the new candidate in the event log", seen)
        seen["rows_live"] = rows()
        seen["done_live"] = int(driver.find_element(By.ID, "done").text)
        if seen["done_live"] != seen["done_at_load"] + (seen["rows_live"] - seen["rows_at_load"]):
            fail("the done count and the rows added disagree", seen)

        driver.find_element(By.ID, "stop").click()
        seen["state_after_stop"] = wait(
            lambda: (lambda t: t if t in ("stopping", "idle") else None)(driver.find_element(By.ID, "state").text),
            10, "the state to become stopping", seen)
        # The run's own "stopped" event then arrives through the stream.
        seen["state_final"] = wait(lambda: (lambda t: t if t == "idle" else None)(driver.find_element(By.ID, "state").text),
                                   a.timeout, "the stopped event", seen)
        driver.find_element(By.ID, "export").click()
        seen["export_message"] = wait(
            lambda: (lambda t: t if "queued" in t or "error" in t.lower() else None)(driver.find_element(By.ID, "message").text),
            10, "the export to be queued", seen)
        if a.screenshot:
            driver.set_window_size(1280, 1500)
            driver.save_screenshot(a.screenshot)
        print(json.dumps(seen, indent=1))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
