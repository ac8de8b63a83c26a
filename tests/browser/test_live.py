"""Two people on one shared list, each in their own browser: what one does appears on the
other's open page without a reload, and never replaces a form the other is typing in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Account, Server, log_in, new_context

pytestmark = pytest.mark.browser

# How long a change may take to reach the other page (it takes milliseconds; the margin
# is for a loaded CI machine).
LIVE_MS = 10_000


@pytest.fixture
def people(server: Server) -> tuple[Account, Account]:
    return server.create_account("ada@example.com"), server.create_account("bob@example.com")


def page_of(browser: Browser, server: Server, account: Account) -> Iterator[Page]:
    context = new_context(browser, javascript=True)
    page = context.new_page()
    log_in(page, server, account)
    yield page
    context.close()


@pytest.fixture
def ada_page(browser: Browser, server: Server, people: tuple[Account, Account]) -> Iterator[Page]:
    yield from page_of(browser, server, people[0])


@pytest.fixture
def bob_page(browser: Browser, server: Server, people: tuple[Account, Account]) -> Iterator[Page]:
    yield from page_of(browser, server, people[1])


def test_changes_on_a_shared_list_appear_live_on_the_other_persons_page(
    server: Server, people: tuple[Account, Account], ada_page: Page, bob_page: Page
) -> None:
    ada, bob = people
    api = httpx.Client(base_url=server.base_url, headers=ada.bearer)
    home = api.post("/api/lists", json={"name": "Home"}).json()
    api.post(f"/api/lists/{home['id']}/members", json={"email": bob.email, "role": "editor"})
    milk = api.post("/api/tasks", json={"title": "Milk", "list_id": home["id"]}).json()

    for page in (ada_page, bob_page):
        page.goto(server.url(f"/lists/{home['id']}"))
        page.evaluate("window.__marker = 'still the same page'")
    rows = bob_page.locator("#tasks li.task .title")
    expect(rows).to_have_text(["Milk"])

    # Ada adds a task in her browser: it appears on Bob's page, with the sidebar's count.
    field = ada_page.get_by_label("New task")
    field.fill("Bread")
    field.press("Enter")
    expect(rows).to_have_text(["Bread", "Milk"], timeout=LIVE_MS)
    expect(bob_page.locator("#lists-nav a[aria-current=page] .count")).to_have_text(
        "2", timeout=LIVE_MS
    )

    # Bob is editing Milk's notes when Ada renames it: his form stays as he typed it...
    bob_page.get_by_role("link", name="Edit Milk").click()
    notes = bob_page.get_by_label("Notes")
    notes.fill("semi-skimmed")
    api.patch(f"/api/tasks/{milk['id']}", json={"title": "Oat milk"})
    ada_page.get_by_role("checkbox", name="Bread").click()  # and completes Bread
    expect(bob_page.locator("#tasks li.task.done .title")).to_have_text([], timeout=1000)
    bob_page.wait_for_timeout(1000)
    expect(notes).to_have_value("semi-skimmed")
    # ...and once he cancels, his rows catch up with both changes.
    bob_page.get_by_role("link", name="Cancel").click()
    expect(rows).to_have_text(["Bread", "Oat milk"], timeout=LIVE_MS)
    expect(bob_page.locator("#tasks li.task.done .title")).to_have_text(["Bread"])

    # Ada revokes Bob: his open page of the list leaves for all his tasks.
    api.delete(f"/api/lists/{home['id']}/members/{bob_id(server, bob)}")
    expect(bob_page).to_have_url(server.url("/"), timeout=LIVE_MS)
    expect(bob_page.locator("#lists-nav")).not_to_contain_text("Home")

    # Neither page was reloaded by any of it but Bob's, sent away from the list.
    assert ada_page.evaluate("window.__marker") == "still the same page"


def bob_id(server: Server, bob: Account) -> str:
    me = httpx.get(server.url("/api/me"), headers=bob.bearer).json()
    return str(me["id"])
