"""Screenshots of the web console's main pages over the demo network (`make screenshots`).

Loads the demo into a temporary SQLite directory, starts `twinning serve` on a free port, signs
in as the demo's partner, reviewer and auditor in headless Chromium (Debian's package, driven by
Playwright) and saves PNG files in docs/screenshots. The server is stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("TWINNING_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "twinning-demo-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    print(f"saved docs/screenshots/{name}.png")


def take(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        desktop = {"base_url": base, "viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}

        partner = browser.new_context(**desktop).new_page()
        sign_in(partner, "giulia@demo.twinning.eu")
        shoot(partner, "inbox")
        partner.goto("/console/initiatives")
        shoot(partner, "initiatives")
        partner.goto("/console/initiatives?state=follow_up")
        partner.locator(".cards a").first.click()
        shoot(partner, "initiative")
        partner.goto("/console/initiatives/new")
        shoot(partner, "propose")

        reviewer = browser.new_context(**desktop).new_page()
        sign_in(reviewer, "sofia@demo.twinning.eu")
        reviewer.goto("/console/review")
        shoot(reviewer, "review-queue")
        reviewer.locator(".cards a").first.click()
        shoot(reviewer, "review")

        auditor = browser.new_context(**desktop).new_page()
        sign_in(auditor, "karl@demo.twinning.eu")
        auditor.goto("/console/initiatives?state=completed")
        auditor.locator(".cards a").first.click()
        auditor.get_by_role("link", name="Timeline of every decision").click()
        shoot(auditor, "timeline")
        auditor.goto("/console/audit")
        shoot(auditor, "audit-entries")
        auditor.goto("/console/audit/integrity?position=")
        shoot(auditor, "integrity")
        auditor.goto("/console/impact")
        shoot(auditor, "impact")

        public = browser.new_context(**desktop).new_page()
        public.goto("/console/good-practices")
        shoot(public, "good-practices")

        phone = browser.new_context(
            base_url=base, viewport={"width": 390, "height": 844}, locale="fr-FR"
        ).new_page()
        sign_in(phone, "ana@demo.twinning.eu")
        phone.goto("/console/initiatives?lang=fr")
        shoot(phone, "phone-list-fr")
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twinning-screenshots-") as tmp:
        env = {
            **os.environ,
            "TWINNING_DATA_DIR": tmp,
            "TWINNING_DATABASE_URL": "",
            "TWINNING_ACCESS_LOG": "",
        }
        subprocess.run([str(BIN / "twinning"), "demo"], env=env, check=True)
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "twinning"), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/readyz", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.3)
            take(base)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


if __name__ == "__main__":
    main()
