"""Shared pieces of the browser tests: Debian's Chromium driven by Playwright, a live server on the
test database, signing in, screenshots and the page checks every page must pass."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WIDTHS = (390, 1024, 1440)
LOCALES = {"en": "en-US", "zh-hans": "zh-CN"}


def wait_until(page, expression, timeout=30_000):
    """Waits until `expression` is true in the page, checked every 100 ms.

    Playwright's page.wait_for_function re-evaluates its expression with eval() from a timer inside the
    page, which the site's Content-Security-Policy (script-src 'self', no 'unsafe-eval') refuses; an
    evaluate() sent from here is allowed, as it comes from the browser's own debugging protocol.
    """
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Error as error:  # The page was navigating: look again in the new one.
            if "context was destroyed" not in str(error):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout / 1000:.0f} s: {expression}")
        page.wait_for_timeout(100)


@pytest.fixture(scope="module")
def browser():
    """Module-scoped on purpose: Playwright's sync API runs an event loop in this thread for as long
    as it lives, and every later test that calls async_to_sync would fail beside it."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("HEYGEM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    # That loop makes Django think the ORM calls of these tests are async; they are not.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def collected_static(django_db_blocker):
    # The live server serves STATIC_ROOT as a deployment does, so collect into it once.
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture
def web_server(media_root, collected_static):
    from tests.processes import WebServer

    server = WebServer(media_root).start()
    yield server
    server.kill()


def watch(page, allowed_statuses=(400, 409, 413)):
    """Collects console errors, page errors and failed responses into a list the test checks."""
    errors = []
    # Chromium logs every failed request as a console error; refusals a test provokes answer with
    # `allowed_statuses` on purpose. Anything else (a script error, a missing file) is an error.
    page.on("console", lambda message: message.type == "error" and "Failed to load resource" not in message.text
            and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: response.status >= 400 and response.status not in allowed_statuses
            and errors.append(f"{response.status} {response.url}"))
    return errors


def sign_in(page, username):
    # A live server checks passwords with the production hasher, not the suite's fast one.
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    get_user_model().objects.filter(username=username).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    page.goto(page.base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(page.base + "/")


def screenshot(page, name, full_page=True):
    """Saves a picture of the page to docs/screenshots/ when HEYGEM_SCREENSHOTS is set, reduced to
    256 colours so the repository stays small."""
    if os.environ.get("HEYGEM_SCREENSHOTS"):
        import io

        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        image = Image.open(io.BytesIO(page.screenshot(full_page=full_page))).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(SCREENSHOTS / f"{name}.png", optimize=True)


def sideways_overflow(page):
    """How many pixels the page scrolls sideways (0 when it fits the window), and the outermost
    elements that reach past the window's right edge."""
    return page.evaluate("""() => {
      const over = document.documentElement.scrollWidth - window.innerWidth;
      const culprits = [...document.body.querySelectorAll('*')].filter(el => {
        const r = el.getBoundingClientRect();
        return r.width && r.right > window.innerWidth + 0.5 && !(el.parentElement.getBoundingClientRect().right > window.innerWidth + 0.5);
      }).slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
      return over > 0 ? {over, culprits} : 0;
    }""")


# --- Untranslated text ---------------------------------------------------------------------------

VISIBLE_TEXT = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.replace(/\\s+/g, " ").trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest("script, style, noscript, template, select, code, pre, kbd")) continue;
    const box = parent.getBoundingClientRect();  // Screen-reader-only text is 1 px wide.
    if (box.width <= 1 || box.height <= 1 || getComputedStyle(parent).visibility === "hidden") continue;
    texts.push(text);
  }
  for (const select of document.querySelectorAll("select:not(#language)")) {
    if (select.getClientRects().length && select.selectedIndex >= 0) texts.push(select.options[select.selectedIndex].text.trim());
  }
  for (const input of document.querySelectorAll("input[type=submit], input[type=button]")) texts.push(input.value);
  return texts;
}"""
# Words that read the same in a Chinese page: names, units and protocol words.
NOT_ENGLISH_PROSE = {"HeyGem", "API", "ZIP", "REST", "URL", "JSON", "HTTP", "HTTPS", "Bearer", "Authorization",
                     "WebSocket", "MB", "KB", "GB", "TB", "fps", "min", "curl", "token", "S3",
                     "Axes"}  # django-axes names its app in English only.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def catalogue_msgids():
    """The English strings of both catalogues that contain at least one real word."""
    from tests.test_translations import LOCALE, po_entries

    msgids = []
    for domain in ("django", "djangojs"):
        for msgid, _ in po_entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"):
            if re.search(r"[A-Za-z]{3,}", _PLACEHOLDER.sub("", msgid)):
                msgids.append(msgid)
    return msgids


def untranslated(page, user_words, msgids):
    """Visible texts of a Chinese page that are still English: whole catalogue strings, or English
    words left once names the users chose (file, team and user names) are taken out."""
    patterns = [re.compile("".join(".+?" if _PLACEHOLDER.fullmatch(part) else re.escape(part.replace("%%", "%"))
                                   for part in re.split(r"(%\(\w+\)[sd]|%[sd])", msgid)), re.S) for msgid in msgids]
    found = []
    for text in page.evaluate(VISIBLE_TEXT):
        if any(pattern.fullmatch(text) for pattern in patterns):
            found.append(text)
            continue
        rest = text
        for word in sorted(user_words, key=len, reverse=True):
            rest = rest.replace(word, " ")
        rest = re.sub(r"\w*_\w*", " ", rest)  # Codes and identifiers (no_face, check_storage).
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’]{2,}", rest) if w not in NOT_ENGLISH_PROSE]
        if words:
            found.append(text)
    return found
