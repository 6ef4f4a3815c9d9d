"""Playwright for Python driving Debian's chromium (never a downloaded browser) against pytest-django's live
server, with axe-core (from the npm registry, installed into var/npm by .ci/run) injected into every page."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
# `make screenshots` sets this to docs/screenshots: the journeys then keep the README's tour, one picture per role at
# laptop and at phone width, taken where each role's work is most visible.
TOUR = os.environ.get("PORTAL_TOUR_DIR", "")
LAPTOP = {"width": 1280, "height": 800}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    if not AXE.exists():
        pytest.fail("axe-core is missing: npm install --prefix var/npm axe-core@4 (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Session:
    """One person's browser tab: logs in, checks every page it opens with axe, keeps console errors."""

    def __init__(self, browser, base_url, width=1366, height=900):
        self.context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.page.on("response", lambda r: r.status >= 400 and self.console_errors.append(f"{r.status} {r.url}"))
        self.checked: dict[str, list] = {}
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))
        self.page.on("requestfinished", lambda r: self.requests.append(f"done {r.method} {r.url}"))

    def login(self, username, password):
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/")
        return page

    def logout(self):
        self.page.get_by_role("button", name="Log out").click()

    def axe(self, name):
        """0 serious or critical violations and no sideways scrolling on a phone; also saves a screenshot of the
        page as a test artifact."""
        page = self.page
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""")
        self.checked[name] = violations
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{name}: {blocking}"
        self.fits_phone(name)

    def fits_phone(self, name):
        """The page, laid out at 390 px, is no wider than the viewport (the widest offenders are named)."""
        page = self.page
        size = page.viewport_size
        if size["width"] != PHONE["width"]:
            page.set_viewport_size(PHONE)
        try:
            too_wide = page.evaluate("""(width) => {
                if (document.documentElement.scrollWidth <= width) return [];
                // An element inside a box that scrolls or clips on its own (a .table-wrap) widens nothing.
                // (An absolutely positioned one escapes such a box unless the box is positioned too.)
                const clipped = (e) => {
                    if (['absolute', 'fixed'].includes(getComputedStyle(e).position)) return false;
                    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                        if (getComputedStyle(a).overflowX !== 'visible') return true;
                    }
                    return false;
                };
                return Array.from(document.querySelectorAll('body *')).filter(e => !clipped(e))
                    .map(e => [e, e.getBoundingClientRect()])
                    .filter(([e, r]) => r.right > width + 1 && r.width > 0)
                    .sort((a, b) => b[1].right - a[1].right).slice(0, 5)
                    .map(([e, r]) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}` +
                                     `${e.className && typeof e.className === 'string' ? '.' + e.className.trim()
                                        .split(/\\s+/).join('.') : ''} right=${Math.round(r.right)}`);
            }""", PHONE["width"])
            if too_wide:
                page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
        finally:
            if size["width"] != PHONE["width"]:
                page.set_viewport_size(size)
        self.checked[f"{name}@390"] = too_wide
        assert not too_wide, f"{name} scrolls sideways at {PHONE['width']} px: {too_wide}"

    def tour(self, name):
        """The README tour's two pictures of this page (laptop and phone width), when `make screenshots` asks for
        them; the page is checked either way, so a tour picture never shows a page the journey did not check."""
        self.axe(f"tour-{name}")
        if not TOUR:
            return
        directory = Path(TOUR) if Path(TOUR).is_absolute() else ROOT / TOUR
        directory.mkdir(parents=True, exist_ok=True)
        page = self.page
        size = page.viewport_size
        try:
            for suffix, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
                page.set_viewport_size(viewport)
                page.screenshot(path=str(directory / f"{name}-{suffix}.png"), full_page=suffix == "phone")
        finally:
            page.set_viewport_size(size)

    def close(self):
        self.context.close()


@pytest.fixture
def open_session(browser, live_server):
    sessions = []

    def open_(**kwargs):
        session = Session(browser, live_server.url, **kwargs)
        sessions.append(session)
        return session

    yield open_
    for session in sessions:
        session.close()


PASSWORD = "correct-horse-battery-9"


def acme(*, vcenter=None):
    """The journeys' tenant: Acme Corp with an administrator and an auditor, its AWS account pointed at the AWS
    sandbox, and (given a vCenter sandbox) where its connector reaches vCenter."""
    from types import SimpleNamespace

    from core import services
    from core.models import TenantAwsAccount, TenantVCenter

    s = SimpleNamespace()
    s.tenant = services.tenant_create(actor=None, name="Acme Corp", slug="acme")
    s.admin = services.user_create(actor=None, tenant=s.tenant, username="admin", role="admin", password=PASSWORD)
    s.auditor = services.user_create(actor=None, tenant=s.tenant, username="audrey", role="auditor",
                                     password=PASSWORD)
    TenantAwsAccount.objects.create(tenant=s.tenant, access_key_id="AKIAIOSFODNN7EXAMPLE",
                                    secret_access_key="sandbox-secret")
    if vcenter is not None:
        TenantVCenter.objects.create(tenant=s.tenant, url=vcenter.url)  # the account is entered on its agent
    return s
