"""The status page (Public/index.html) in a real headless Chromium against a running backup-server.

Run through run.sh, which builds and starts the server (demo network) and sets:
  BACKUP_SERVER_URL    e.g. http://127.0.0.1:43817
  BACKUP_SERVER_TOKEN  the server's token
Optional: CHROMIUM (/usr/bin/chromium), CHROMEDRIVER (/usr/bin/chromedriver),
          SCREENSHOT_DIR (/tmp), BROWSER_TEST_TIMEOUT (seconds per wait, 120).

No fixed sleeps: every wait is a WebDriverWait on a condition, with generous timeouts for busy machines.
Only the standard library and selenium (Debian's python3-selenium or PyPI's) are needed.
"""

import json
import os
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ.get("BACKUP_SERVER_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ.get("BACKUP_SERVER_TOKEN", "")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR", "/tmp")
TIMEOUT = float(os.environ.get("BROWSER_TEST_TIMEOUT", "120"))

# The demo network (Sources/BackupServerKit/DemoNetwork.swift): device 5 (edge-fw1) always fails with
# AUTH_FAILED and is never retried, so a task of it alone finishes after one attempt.
AUTH_FAILING_DEVICE = 5


def api(method, path, body=None, token=None, headers=None):
    """Calls the API directly (to compare the page with the server). Returns (status, json)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + (TOKEN if token is None else token))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def make_driver(language):
    """A headless Chromium using the system chromedriver (never Selenium Manager downloads)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox cannot run as root (CI runs as root).
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.add_argument("--window-size=1400,1200")
    options.add_argument("--lang=" + language)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"intl.accept_languages": language + "," + language.split("-")[0]})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class PageTestCase(unittest.TestCase):
    language = "en-US"

    @classmethod
    def setUpClass(cls):
        if not TOKEN:
            raise unittest.SkipTest("BACKUP_SERVER_TOKEN is not set: run BrowserTests/run.sh")
        cls.driver = make_driver(cls.language)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    # --- helpers ---

    def wait(self, condition, message, timeout=TIMEOUT):
        def safe(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(safe, message)

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id):
        return self.by_id(element_id).text.strip()

    def load(self, fragment=None):
        """A fresh page: sessionStorage (token, language choice) cleared, then `/#<fragment>`."""
        self.driver.get(BASE + "/health")
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(BASE + "/" + ("#" + fragment if fragment else ""))
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "page did not load")

    def load_with_token(self, extra=""):
        self.load("token=" + TOKEN + extra)
        self.wait(lambda d: "token=" not in d.current_url, "the token stayed in the address bar")

    def task_rows(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "#task-rows [data-testid=task-row]")

    def open_task_view_for_new_task(self, previous_id=""):
        return self.wait(lambda d: (self.text("task-id") not in ("", previous_id)) and self.text("task-id"),
                         "no task shown after starting one")

    def start_backup_through_dialog(self):
        """Clicks "back up all", checks the confirmation dialog, confirms; returns the new task's id."""
        previous = self.text("task-id")
        self.by_id("backup-all-btn").click()
        dialog = self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is not None
                           and d.find_element(By.ID, "confirm-dialog"), "the confirmation dialog did not open")
        _, devices = api("GET", "/devices/all")
        what = dialog.find_element(By.CSS_SELECTOR, "[data-testid=confirm-devices]").text
        self.assertIn(str(devices["total"]), what)
        self.by_id("confirm-ok").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is None, "dialog stayed open")
        return self.open_task_view_for_new_task(previous)

    def wait_for_final_status(self, statuses=("completed", "partial", "failed", "cancelled")):
        return self.wait(lambda d: (self.by_id("task-status").get_attribute("data-status") in statuses)
                         and self.by_id("task-status").get_attribute("data-status"),
                         "the task view never showed a final status")

    def failed_rows(self):
        rows = {}
        for row in self.driver.find_elements(By.CSS_SELECTOR, "#failed-rows [data-testid=failed-device]"):
            rows[row.find_element(By.CSS_SELECTOR, "[data-testid=failed-name]").text] = (
                row.find_element(By.CSS_SELECTOR, "[data-testid=failed-code]").text,
                row.find_element(By.CSS_SELECTOR, "[data-testid=failed-message]").text)
        return rows

    def assert_counts_match(self, task):
        self.wait(lambda d: self.text("count-done") == str(task["completed"]), "the done count never matched the API")
        self.assertEqual(self.text("count-total"), str(task["total"]))
        self.assertEqual(self.text("count-done"), str(task["completed"]))
        self.assertEqual(self.text("count-ok"), str(task["success_count"]))
        self.assertEqual(self.text("count-failed"), str(task["failed_count"]))
        if task["completed"]:
            rate = round(task["success_count"] / task["completed"] * 1000) / 10
            self.assertEqual(self.text("success-rate"), ("%g" % rate) + "%")

    def assert_no_console_errors(self):
        try:
            logs = self.driver.get_log("browser")
        except Exception:  # noqa: BLE001 - not every driver offers logs
            return
        # /health (loaded to reach the origin's sessionStorage) makes the browser ask for /favicon.ico.
        severe = [entry for entry in logs if entry.get("level") == "SEVERE"
                  and "/favicon.ico" not in entry.get("message", "")]
        self.assertEqual(severe, [], "JavaScript errors on the page")


class EnglishPageTests(PageTestCase):
    language = "en-US"

    def test_a_backup_all_runs_live_to_100_percent(self):
        self.load_with_token()
        self.assertEqual(self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang"), "en")
        self.assertEqual(self.text("backup-all-btn"), "Back up all devices…")

        # Cancelling the confirmation starts nothing.
        _, before = api("GET", "/configurations/backup-tasks?page=1&page_size=1")
        self.by_id("backup-all-btn").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is not None, "no dialog")
        self.by_id("confirm-cancel").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is None, "dialog stayed open")
        _, after = api("GET", "/configurations/backup-tasks?page=1&page_size=1")
        self.assertEqual(before["total"], after["total"], "cancelling the dialog must not start a task")

        task_id = self.start_backup_through_dialog()
        self.wait(lambda d: any(r.get_attribute("data-task-id") == task_id for r in self.task_rows()),
                  "the new task is not in the task list")

        # Watch the bar: it moves through intermediate values and reaches 100.
        seen = set()
        bar = self.by_id("progress-bar")
        self.assertEqual(bar.get_attribute("role"), "progressbar")

        def reached_100(_):
            value = float(bar.get_attribute("aria-valuenow"))
            seen.add(value)
            return value == 100
        self.wait(reached_100, "the progress bar never reached 100%")
        self.assertTrue(any(0 < v < 100 for v in seen), f"the bar jumped straight to 100 (values seen: {sorted(seen)})")
        self.assertEqual(self.text("progress-text"), "100%")

        status = self.wait_for_final_status()
        _, task = api("GET", "/configurations/backup-tasks/" + task_id)
        self.assertEqual(status, task["status"])
        self.assertTrue(task["idempotency_key"].startswith("page-backup-all-"), "the page sends an Idempotency-Key")
        self.assert_counts_match(task)

        # The failed devices, with their codes, exactly as the API has them.
        expected = {r["device_name"]: r["error_code"] for r in task["results"] if not r["success"]}
        self.wait(lambda d: {k: v[0] for k, v in self.failed_rows().items()} == expected,
                  "the failed devices do not match the API")
        codes = set(expected.values())
        self.assertIn("AUTH_FAILED", codes)
        self.assertIn("MAX_RETRIES_EXCEEDED", codes)
        for name, (_, message) in self.failed_rows().items():
            self.assertTrue(message, f"no error message shown for {name}")

        # Times and duration are shown; the buttons fit the finished task.
        for element_id in ("started-at", "finished-at", "duration"):
            self.assertNotEqual(self.text(element_id), "–", element_id)
        self.assertFalse(self.by_id("cancel-task-btn").is_enabled())
        self.assertTrue(self.by_id("retry-task-btn").is_enabled())

        # The live log: one timestamped line per event, including live-only events.
        lines = self.driver.find_elements(By.CSS_SELECTOR, "#event-log [data-testid=log-line]")
        self.assertGreaterEqual(len(lines), task["total"])
        texts = [line.text for line in lines]
        self.assertTrue(any("attempt 1 started" in t for t in texts), "no device_started lines in the log")
        self.assertTrue(any("AUTH_FAILED" in t for t in texts))
        self.assertTrue(any(t.startswith("Task finished") or "Task finished" in t for t in texts))
        for line in lines:
            self.assertRegex(line.find_element(By.TAG_NAME, "time").text, r"^\d\d:\d\d:\d\d\.\d{3}$")

        path = os.path.join(SCREENSHOT_DIR, "backup-status-page-en.png")
        self.driver.save_screenshot(path)
        print(f"\nscreenshot: {path}")
        self.assert_no_console_errors()

    def test_b_cancel_running_task(self):
        self.load_with_token()
        task_id = self.start_backup_through_dialog()
        self.wait(lambda d: self.by_id("cancel-task-btn").is_enabled(), "cancel never became enabled")
        self.assertFalse(self.by_id("retry-task-btn").is_enabled(), "re-run must wait until the task has finished")
        self.by_id("cancel-task-btn").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is not None, "no cancel dialog")
        self.by_id("confirm-ok").click()

        self.assertEqual(self.wait_for_final_status(), "cancelled")
        self.assertEqual(self.text("task-status"), "cancelled")
        _, task = api("GET", "/configurations/backup-tasks/" + task_id)
        self.assertEqual(task["status"], "cancelled")
        self.assert_counts_match(task)
        self.wait(lambda d: not self.by_id("cancel-task-btn").is_enabled(), "cancel still enabled")
        if task["success_count"] < task["total"]:
            self.assertTrue(self.by_id("retry-task-btn").is_enabled())
        # The list shows it cancelled too.
        self.wait(lambda d: any(r.get_attribute("data-task-id") == task_id and r.get_attribute("data-status") == "cancelled"
                                for r in self.task_rows()), "the task list does not show the task cancelled")
        self.assert_no_console_errors()

    def test_c_rerun_failed_creates_new_task(self):
        status, failed = api("POST", "/configurations/backup-all",
                             {"device_ids": [AUTH_FAILING_DEVICE], "async_execute": False})
        self.assertEqual(status, 200, failed)
        self.assertEqual(failed["status"], "failed")
        self.load_with_token("&task=" + failed["task_id"])
        self.assertEqual(self.wait_for_final_status(), "failed")
        self.wait(lambda d: "AUTH_FAILED" in [v[0] for v in self.failed_rows().values()], "AUTH_FAILED not listed")
        retry = self.by_id("retry-task-btn")
        self.wait(lambda d: retry.is_enabled(), "re-run not enabled for a failed task")
        retry.click()

        new_id = self.open_task_view_for_new_task(failed["task_id"])
        status, new_task = api("GET", "/configurations/backup-tasks/" + new_id)
        self.assertEqual(status, 200)
        self.assertEqual([d["device_id"] for d in new_task["devices"]], [AUTH_FAILING_DEVICE])
        self.assertTrue(new_task["idempotency_key"].startswith("page-retry-" + failed["task_id"]))
        self.wait(lambda d: any(r.get_attribute("data-task-id") == new_id for r in self.task_rows()),
                  "the re-run task is not in the task list")
        self.assertIn("task=" + new_id, self.driver.current_url)
        self.wait_for_final_status()
        self.assert_no_console_errors()

    def test_e_missing_or_wrong_token(self):
        api("POST", "/configurations/backup-all", {"device_ids": [AUTH_FAILING_DEVICE], "async_execute": False})

        # No token: the token form, no data, no error from the server.
        self.load()
        self.wait(lambda d: self.by_id("token-panel").is_displayed(), "no token form without a token")
        self.assertEqual(self.task_rows(), [])

        # A wrong token: UNAUTHORIZED shown, no data, the token shown nowhere.
        wrong = "wrong-token-" + "x" * 20
        self.load("token=" + wrong)
        banner = self.wait(lambda d: self.by_id("error-banner").is_displayed() and self.by_id("error-banner"),
                           "no error for a wrong token")
        self.assertEqual(self.text("error-code"), "UNAUTHORIZED")
        self.assertIn("token", self.text("error-message").lower())
        self.assertEqual(banner.get_attribute("role"), "alert")
        self.assertEqual(self.task_rows(), [])
        self.assertTrue(self.by_id("token-panel").is_displayed())
        self.assertNotIn(wrong, self.driver.page_source)
        self.assertNotIn(wrong, self.driver.current_url)
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('deviceBackup.token')"))

        # The right token through the form: the data appears and the error goes.
        self.by_id("token-input").send_keys(TOKEN)
        self.by_id("token-save").click()
        self.wait(lambda d: len(self.task_rows()) > 0, "no tasks after entering the right token")
        self.assertFalse(self.by_id("error-banner").is_displayed())
        self.assertNotIn(TOKEN, self.driver.page_source)

    def test_f_sse_parser_across_chunk_boundaries(self):
        """The page's SSE parser against a byte stream cut at every position (inside CRLF and UTF-8 too)."""
        self.load_with_token()
        result = self.driver.execute_script(r"""
            const Parser = window.DeviceBackupPage.SSEParser;
            const stream = new TextEncoder().encode(
                ": comment\r\nevent: snapshot\r\ndata: {\"a\":1}\r\n\r\n" +
                "event: device_finished\ndata: {\"name\":\"设备-1\"}\n\n" +
                "data:first\ndata: second\n\n" +
                "event:task_finished\rdata: {}\r\r");
            const run = (chunks) => {
              const out = []; const p = new Parser((type, data) => out.push([type, data]));
              for (const c of chunks) p.pushBytes(c); p.end(); return JSON.stringify(out);
            };
            const whole = run([stream]);
            const failures = [];
            for (let i = 0; i <= stream.length; i++) {
              for (let j = i; j <= stream.length; j += 5) {
                const got = run([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
                if (got !== whole) failures.push([i, j, got]);
              }
            }
            return { whole, failures: failures.slice(0, 3) };
        """)
        self.assertEqual(json.loads(result["whole"]), [
            ["snapshot", '{"a":1}'], ["device_finished", '{"name":"设备-1"}'],
            ["message", "first\nsecond"], ["task_finished", "{}"]])
        self.assertEqual(result["failures"], [])


class ChinesePageTests(PageTestCase):
    language = "zh-CN"

    def test_d_chinese_labels_from_browser_language(self):
        status, task = api("POST", "/configurations/backup-all", {"device_ids": [AUTH_FAILING_DEVICE], "async_execute": False})
        self.assertEqual(status, 200, task)
        self.load_with_token("&task=" + task["task_id"])
        self.wait(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN", "not Chinese")
        self.assertEqual(self.text("backup-all-btn"), "备份所有设备…")
        self.assertEqual(self.text("tasks-heading"), "备份任务")
        self.assertEqual(self.wait_for_final_status(), "failed")
        self.assertEqual(self.text("task-status"), "全部失败")
        self.assertEqual(self.text("cancel-task-btn"), "取消任务")
        self.assertEqual(self.text("retry-task-btn"), "重新执行失败设备")
        self.assertIn("成功率", self.by_id("task-body").text)
        self.assertIn("执行日志", self.by_id("task-body").text)
        self.wait(lambda d: any("AUTH_FAILED" in line.text for line in
                                d.find_elements(By.CSS_SELECTOR, "#event-log [data-testid=log-line]")), "no log")

        # The confirmation dialog in Chinese; closing it starts nothing.
        self.by_id("backup-all-btn").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is not None, "no dialog")
        self.assertEqual(self.text("confirm-title"), "备份所有设备？")
        self.assertEqual(self.text("confirm-ok"), "开始备份")
        self.by_id("confirm-cancel").click()
        self.wait(lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is None, "dialog stayed open")

        # The manual switch.
        self.driver.find_element(By.CSS_SELECTOR, "#lang-select option[value=en]").click()
        self.wait(lambda d: self.text("backup-all-btn") == "Back up all devices…", "the switch to English did not apply")
        self.assertEqual(self.text("task-status"), "failed")
        self.assertEqual(self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang"), "en")
        path = os.path.join(SCREENSHOT_DIR, "backup-status-page-zh.png")
        self.driver.find_element(By.CSS_SELECTOR, "#lang-select option[value=zh]").click()
        self.wait(lambda d: self.text("backup-all-btn") == "备份所有设备…", "the switch back did not apply")
        self.driver.save_screenshot(path)
        print(f"\nscreenshot: {path}")
        self.assert_no_console_errors()


if __name__ == "__main__":
    unittest.main(verbosity=2)
