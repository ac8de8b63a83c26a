"""One user's journey through the task list and the trash, in a real browser: once with
JavaScript (htmx swaps partials, the page never reloads) and once without (every action is
a form post answered by 303 and a fresh page). It starts as a newcomer's does, on a new
installation: the first visit leads to sign-up, and the first account is the admin's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect

from tests.browser.conftest import Server, log_in, new_context
from webapp.settings import PROJECT_ROOT

pytestmark = pytest.mark.browser

SCREENSHOT = PROJECT_ROOT / "docs" / "images" / "tasks.png"


class Journey:
    """A page plus what the journey checks along the way."""

    def __init__(self, page: Page, server: Server, javascript: bool) -> None:
        self.page = page
        self.server = server
        self.javascript = javascript
        self.problems: list[str] = []
        # Every request the browser sends, printed when a test fails.
        self.requests: list[str] = []
        page.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        # A CSP violation, a failed request or a script error shows up as a console error;
        # the 422s are the journey's own invalid titles, answered with the form re-rendered.
        if message.type == "error" and not re.search(r"\b422\b", message.text):
            self.problems.append(message.text)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server.url(path))
        self.mark()

    def mark(self) -> None:
        """With JS, remember this document: a reload or navigation would forget the mark."""
        if self.javascript:
            self.page.evaluate("window.__marker = 'still the same page'")

    def assert_not_reloaded(self) -> None:
        if self.javascript:
            assert self.page.evaluate("window.__marker") == "still the same page"

    def rows(self) -> list[str]:
        return [t.strip() for t in self.page.locator("#tasks li.task .title").all_inner_texts()]

    def expect_rows(self, *titles: str) -> None:
        expect(self.page.locator("#tasks li.task .title")).to_have_text(list(titles))

    def expect_counter(self, text: str) -> None:
        expect(self.page.locator("#counter")).to_have_text(text)

    def sign_up(self, email: str = "ada@example.com", name: str = "Ada") -> None:
        """The first visit to a new installation: every page leads to sign-up."""
        self.page.goto(self.server.url("/"))
        expect(self.page).to_have_url(self.server.url("/signup"))
        expect(self.page.get_by_text("it will be the admin")).to_be_visible()
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill("a long password")
        self.page.get_by_label("Name (optional)").fill(name)
        self.page.get_by_role("button", name="Create account").click()
        expect(self.page).to_have_url(self.server.url("/"))
        expect(self.page.locator("header .me")).to_contain_text(name)
        self.mark()

    def add(self, title: str) -> None:
        field = self.page.get_by_label("New task")
        field.fill(title)
        field.press("Enter")
        expect(self.page.get_by_role("checkbox", name=title)).to_be_visible()
        # The field is emptied and keeps focus, ready for the next task.
        expect(self.page.get_by_label("New task")).to_have_value("")
        if self.javascript:
            expect(self.page.get_by_label("New task")).to_be_focused()


@pytest.fixture(params=[True, False], ids=["with-js", "without-js"])
def journey(request: pytest.FixtureRequest, browser: Browser, server: Server) -> Iterator[Journey]:
    context = new_context(browser, javascript=request.param)
    journey = Journey(context.new_page(), server, request.param)
    yield journey
    print("requests:", *journey.requests, sep="\n  ")
    context.close()


def test_the_journey(journey: Journey) -> None:
    page = journey.page
    journey.sign_up()
    expect(page.locator(".empty")).to_have_text("Nothing to do. Add a task above.")
    journey.expect_counter("0 items left")

    # Add two tasks; the newest is listed first.
    journey.add("Buy milk")
    journey.add("Walk the dog")
    journey.expect_rows("Walk the dog", "Buy milk")
    journey.expect_counter("2 items left")

    # An empty title is an error next to the field, and nothing is added.
    field = page.get_by_label("New task")
    field.fill("   ")
    field.press("Enter")
    expect(page.locator("#new-title-error")).to_have_text("The title must not be empty.")
    expect(page.get_by_label("New task")).to_have_attribute("aria-invalid", "true")
    journey.expect_rows("Walk the dog", "Buy milk")

    # Complete one: the checkbox is checked and the counter follows.
    page.get_by_role("checkbox", name="Buy milk").click()
    expect(page.get_by_role("checkbox", name="Buy milk")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Walk the dog")).not_to_be_checked()
    journey.expect_counter("1 item left")

    # Filters are real URLs.
    page.get_by_role("link", name="Active", exact=True).click()
    expect(page).to_have_url(re.compile(r"/\?filter=active$"))
    journey.expect_rows("Walk the dog")
    page.get_by_role("link", name="Completed", exact=True).click()
    expect(page).to_have_url(re.compile(r"/\?filter=completed$"))
    journey.expect_rows("Buy milk")
    page.get_by_role("link", name="All", exact=True).click()
    expect(page).to_have_url(re.compile(r"/$"))
    journey.expect_rows("Walk the dog", "Buy milk")

    # Search: live with JS (as you type), a plain GET form without.
    search = page.get_by_role("searchbox", name="Search")
    for text, rows in [("dog", ["Walk the dog"]), ("", ["Walk the dog", "Buy milk"])]:
        search.fill(text)
        if not journey.javascript:
            search.press("Enter")
        journey.expect_rows(*rows)
        expect(page).to_have_url(re.compile(rf"/\?q={text}$"))

    # Edit a title inline; Enter saves.
    if journey.javascript:
        # Escape cancels an edit and leaves the title as it was.
        page.get_by_role("link", name="Edit Walk the dog").click()
        page.get_by_label("Title").fill("Something else")
        page.get_by_label("Title").press("Escape")
        journey.expect_rows("Walk the dog", "Buy milk")
        expect(page.get_by_role("link", name="Edit Walk the dog")).to_be_focused()
    page.get_by_role("link", name="Edit Walk the dog").click()
    expect(page.get_by_label("Title")).to_be_focused()
    page.get_by_label("Title").fill("")
    page.get_by_label("Title").press("Enter")
    expect(page.locator("#tasks .field-error")).to_have_text("The title must not be empty.")
    page.get_by_label("Title").fill("Walk the cat")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Title").press("Enter")
    journey.expect_rows("Walk the cat", "Buy milk")
    expect(page.locator("#tasks .priority")).to_have_text("high")

    # Delete one: the row leaves and a toast offers to undo.
    page.get_by_role("button", name="Delete Walk the cat").click()
    journey.expect_rows("Buy milk")
    expect(page.locator("#toasts")).to_contain_text("Task deleted")
    journey.expect_counter("0 items left")
    if journey.javascript:
        # Focus moves to the task that took the deleted one's place.
        expect(page.get_by_role("checkbox", name="Buy milk")).to_be_focused()

    # Undo brings it back in its old place.
    page.locator("#toasts").get_by_role("button", name="Undo").click()
    journey.expect_rows("Walk the cat", "Buy milk")
    expect(page.locator("#toasts")).to_contain_text("Task restored")
    journey.expect_counter("1 item left")
    if journey.javascript:
        # Focus goes to the task that came back.
        expect(page.get_by_role("checkbox", name="Walk the cat")).to_be_focused()

    # Delete it again (from the keyboard this time, with JS).
    if journey.javascript:
        page.get_by_role("button", name="Delete Walk the cat").focus()
        page.keyboard.press("Enter")
    else:
        page.get_by_role("button", name="Delete Walk the cat").click()
    journey.expect_rows("Buy milk")
    journey.assert_not_reloaded()

    # In the trash: restore it, then delete it (to the trash) and delete it forever.
    page.get_by_role("link", name="Trash").click()
    journey.mark()
    expect(page.locator("#trash li .title")).to_have_text(["Walk the cat"])
    page.get_by_role("button", name="Restore Walk the cat").click()
    expect(page.locator("#trash li")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Restored “Walk the cat”.")
    journey.assert_not_reloaded()

    page.get_by_role("link", name="Tasks", exact=True).click()
    journey.mark()
    journey.expect_rows("Walk the cat", "Buy milk")
    page.get_by_role("button", name="Delete Walk the cat").click()
    journey.add("Scratch")
    page.get_by_role("button", name="Delete Scratch").click()
    journey.expect_rows("Buy milk")
    journey.assert_not_reloaded()

    page.get_by_role("link", name="Trash").click()
    journey.mark()
    expect(page.locator("#trash li .title")).to_have_text(["Scratch", "Walk the cat"])
    page.get_by_role("button", name="Delete Walk the cat forever").click()
    expect(page.locator("#trash li .title")).to_have_text(["Scratch"])

    # Empty trash asks first.
    page.get_by_role("link", name="Empty trash…").click()
    expect(page.get_by_text("Delete all 1 task in the trash forever?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#trash li .title")).to_have_text(["Scratch"])
    page.get_by_role("link", name="Empty trash…").click()
    page.get_by_role("button", name="Delete 1 task forever").click()
    expect(page.locator("#trash li")).to_have_count(0)
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Trash emptied: 1 task deleted forever.")
    journey.assert_not_reloaded()

    # Everything persisted.
    page.goto(journey.server.url("/"))
    journey.expect_rows("Buy milk")
    expect(page.get_by_role("checkbox", name="Buy milk")).to_be_checked()
    journey.expect_counter("0 items left")
    page.goto(journey.server.url("/trash"))
    expect(page.locator("#trash li")).to_have_count(0)

    # Log out; Back does not show the private page again, it asks to log in.
    page.goto(journey.server.url("/"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(journey.server.url("/login"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text("Buy milk")).to_have_count(0)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    assert journey.problems == []


def test_a_second_account_sees_nothing_of_the_first(journey: Journey, browser: Browser) -> None:
    """The admin invites someone; in another browser context they sign up with the link,
    and see none of the admin's tasks, nor can they reach one by its address."""
    page = journey.page
    journey.sign_up()
    journey.add("Ada's secret plan")
    task_id = page.locator("#tasks li.task").first.get_attribute("id")
    assert task_id is not None
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("button", name="Create invite link").click()
    link = page.locator("#invite-link").inner_text()
    assert "/invites/inv_" in link

    other = new_context(browser, javascript=journey.javascript)
    guest = other.new_page()
    guest.goto(link)
    guest.get_by_label("Email").fill("bob@example.com")
    guest.get_by_label("Password").fill("another long password")
    guest.get_by_role("button", name="Create account").click()
    expect(guest).to_have_url(journey.server.url("/"))
    expect(guest.locator("header .me")).to_contain_text("bob@example.com")
    expect(guest.locator("#tasks li.task")).to_have_count(0)
    expect(guest.get_by_text("Ada's secret plan")).to_have_count(0)
    response = guest.goto(journey.server.url(f"/?edit={task_id.removeprefix('task-')}"))
    assert response is not None
    assert response.status == 200
    expect(guest.get_by_text("Ada's secret plan")).to_have_count(0)
    # The link was for one sign-up only.
    guest.get_by_role("button", name="Log out").click()
    guest.goto(link)
    expect(guest.get_by_text("This invite link is not valid")).to_be_visible()
    other.close()

    page.goto(journey.server.url("/"))
    journey.expect_rows("Ada's secret plan")
    assert journey.problems == []


def test_a_title_with_markup_is_shown_as_text(page_with_js: Page, server: Server) -> None:
    account = server.create_account("ada@example.com")
    httpx.post(
        server.url("/api/tasks"),
        json={"title": "<img src=x onerror=alert(1)>"},
        headers=account.bearer,
    )
    log_in(page_with_js, server, account)
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page_with_js.on("dialog", record)

    page_with_js.goto(server.url("/"))

    expect(page_with_js.locator("#tasks .title")).to_have_text("<img src=x onerror=alert(1)>")
    assert page_with_js.locator("#tasks img").count() == 0
    assert dialogs == []


def test_swagger_ui_still_works_under_its_own_policy(page_with_js: Page, server: Server) -> None:
    errors: list[str] = []
    page_with_js.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page_with_js.goto(server.url("/docs"))

    expect(page_with_js.get_by_text("Tasks API").first).to_be_visible()
    expect(page_with_js.locator(".opblock").first).to_be_visible()
    assert errors == []


def test_the_page_fits_a_phone_and_follows_the_dark_scheme(
    browser: Browser, server: Server
) -> None:
    account = server.create_account("ada@example.com")
    httpx.post(
        server.url("/api/tasks"),
        json={"title": "A rather long task title " * 4},
        headers=account.bearer,
    )
    context = new_context(
        browser, javascript=True, viewport={"width": 360, "height": 740}, color_scheme="dark"
    )
    page = context.new_page()
    log_in(page, server, account)

    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 21, 27)"
    context.close()


def test_screenshot_of_the_main_page(browser: Browser, server: Server) -> None:
    """The README's picture: lists in the sidebar (one shared by someone else), a few
    tasks, one completed, one with details."""
    account = server.create_account("ada@example.com")
    other = server.create_account("bob@example.com")
    lists = server.url("/api/lists")
    groceries = httpx.post(lists, json={"name": "Groceries"}, headers=account.bearer).json()
    household = httpx.post(lists, json={"name": "Household"}, headers=other.bearer).json()
    httpx.post(
        f"{lists}/{household['id']}/members",
        json={"email": account.email, "role": "editor"},
        headers=other.bearer,
    )
    api = server.url("/api/tasks")
    ids = {}
    for title, extra in [
        ("Renew the passport", {"priority": "high", "due_date": "2026-12-24"}),
        ("Book the dentist", {}),
        ("Buy oat milk", {"notes": "Two cartons, the barista one", "list_id": groceries["id"]}),
        ("Water the plants", {"list_id": household["id"]}),
    ]:
        created = httpx.post(api, json={"title": title, **extra}, headers=account.bearer)
        ids[title] = created.json()["id"]
    httpx.post(f"{api}/{ids['Water the plants']}/complete", headers=account.bearer)
    context = new_context(browser, javascript=True, viewport={"width": 1000, "height": 620})
    page = context.new_page()
    log_in(page, server, account)
    expect(page.locator("#tasks li")).to_have_count(4)
    page.get_by_label("New task").blur()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    context.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_bulk_restore_from_the_trash(journey: Journey) -> None:
    """Delete several tasks, restore two of them, then the rest, and watch the bar fill."""
    page = journey.page
    journey.sign_up()
    titles = ["Bulk one", "Bulk two", "Bulk three"]
    for title in titles:
        journey.add(title)
    for title in titles:
        page.get_by_role("button", name=f"Delete {title}").click()
        expect(page.get_by_role("checkbox", name=title)).to_have_count(0)

    page.get_by_role("link", name="Trash").click()
    journey.mark()
    for title in ["Bulk one", "Bulk three"]:
        page.get_by_role("checkbox", name=f"Select {title}").check()
    page.get_by_role("button", name="Restore selected").click()
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#restore-progress")).to_contain_text("100% · 2 of 2 tasks restored")
    if journey.javascript:
        # The bar stopped polling and the listing caught up, all without a reload.
        expect(page.locator("#trash li .title")).to_have_text(["Bulk two"])
        journey.assert_not_reloaded()
        page.get_by_label("Select all").check()
        expect(page.get_by_role("checkbox", name="Select Bulk two")).to_be_checked()
        page.get_by_role("button", name="Restore selected").click()
    else:
        # Without JS the job page reloaded itself until the job was done.
        expect(page).to_have_url(re.compile(r"/restore-jobs/[0-9a-f-]{36}$"))
        page.get_by_role("link", name="Back to the trash").click()
        expect(page.locator("#trash li .title")).to_have_text(["Bulk two"])
        page.get_by_role("button", name="Restore all").click()
    expect(page.locator("#restore-progress")).to_contain_text("100% · 1 of 1 task restored")
    page.goto(journey.server.url("/trash"))
    expect(page.locator("#trash li")).to_have_count(0)
    page.goto(journey.server.url("/"))
    for title in titles:
        expect(page.get_by_role("checkbox", name=title)).to_be_visible()
    assert journey.problems == []
