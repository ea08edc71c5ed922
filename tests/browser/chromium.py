"""Debian's headless Chromium, driven by Selenium through Debian's chromedriver.

Chromium is only ever pointed at 127.0.0.1: besides the flags that turn off its own
background traffic, a host resolver rule makes every other host name unresolvable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import signal

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common import utils

# The browser itself, not the /usr/bin/chromium wrapper: that one sources /etc/chromium.d
# (API keys, extensions to load), which would only add traffic and variance.
CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The page area the screenshots show.
VIEWPORT = (1280, 960)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--lang=en-US",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
)


class _LoopbackService(Service):
    """chromedriver at 127.0.0.1: `localhost` is ::1 first, which the test plugin blocks."""

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_connectable(self) -> bool:
        return utils.is_connectable(self.port, "127.0.0.1")


class Chromium:
    """One headless Chromium with a fresh profile under `workdir`; start() it, quit() it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.service: Service | None = None
        self.driver: webdriver.Chrome | None = None

    def start(self) -> webdriver.Chrome:
        """Start chromedriver and Chromium; fail (never skip) when Debian's packages are missing."""
        for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not path.exists():
                pytest.fail(
                    f"{path} not found: the browser test needs Debian's {package} package. "
                    "Run scripts/setup (it installs chromium and chromium-driver).",
                    pytrace=False,
                )
        self.workdir.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.workdir / 'profile'}")
        self.service = _LoopbackService(
            executable_path=str(CHROMEDRIVER),
            service_args=["--allowed-ips=127.0.0.1", f"--log-path={self.workdir / 'chromedriver.log'}"],
            # A process group of its own: quit() reaches Chromium's processes whatever happens.
            popen_kw={"start_new_session": True},
        )
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver.set_page_load_timeout(60)
        # Window size = viewport + the (headless, invisible) browser frame.
        frame = self.driver.execute_script(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]"
        )
        self.driver.set_window_size(VIEWPORT[0] + frame[0], VIEWPORT[1] + frame[1])
        return self.driver

    def quit(self) -> None:
        """Close the browser; then SIGKILL whatever is left of chromedriver's process group."""
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            process = self.service.process if self.service is not None else None
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
