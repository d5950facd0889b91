"""Load a page of tfam's output in headless Chromium (Debian's chromium and chromium-driver, which
`make test` installs when missing) from a local HTTP server, and report what loaded."""

import contextlib
import functools
import http.server
import shutil
import threading
import time

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# Every <img> decoded, every <audio> has its metadata (or failed): checked in the page itself.
_STATE = """
const images = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
const audios = [...document.querySelectorAll('audio')].map(a => ({src: a.getAttribute('src'),
    ok: a.readyState >= 1 && !a.error, done: a.readyState >= 1 || !!a.error,
    duration: a.duration}));
return {images, audios};
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def load_page(directory, page, screenshot, timeout=30.0, then=None):
    """Open http://.../page of ``directory`` in headless Chromium, ask every audio element to load
    its metadata, wait until all images and audio have settled, save a screenshot; returns
    {"images": [...], "audios": [...]} with an "ok" per element, and under "then" what
    ``then(driver)`` returns when given (called once the page has settled: to use the page)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not found: `make test` installs Debian's chromium and "
            "chromium-driver (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # the machine has no network: without these Chromium keeps trying to reach Google's services
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        with _serve(directory) as url:
            driver.get(f"{url}/{page}")
            # the gallery loads lazily (a page of many clips): pictures below the window only when
            # scrolled to, audio only when played; ask for all of them here
            driver.execute_script(
                "document.querySelectorAll('img').forEach(i => {i.loading = 'eager';});"
                "document.querySelectorAll('audio').forEach(a => {a.preload = 'metadata'; a.load();})"
            )
            deadline = time.monotonic() + timeout
            while True:
                state = driver.execute_script(_STATE)
                settled = all(a["done"] for a in state["audios"]) and all(
                    i["ok"] for i in state["images"]
                )
                if settled or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            driver.save_screenshot(str(screenshot))
            if then is not None:
                state["then"] = then(driver)
        return state
    finally:
        driver.quit()
