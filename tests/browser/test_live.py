"""Two people on one shared list, each in their own browser: what one does appears on the
other's open page without a reload, and never replaces what the other is typing. Once on
one server (the in-process feed), once with each browser on its own server, the two
sharing Redis (and the database), as replicas do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Account, Server, log_in, new_context, reserved_port, run_server
from tests.needs import REDIS_URL, need

pytestmark = pytest.mark.browser

# A change reaches the other page within a second (it takes tens of milliseconds).
LIVE_MS = 1_000
MARK = "window.__marker = 'still the same page'"
MARKED = "window.__marker"


def browser_page(browser: Browser, server: Server, account: Account) -> Iterator[Page]:
    context = new_context(browser, javascript=True)
    page = context.new_page()
    log_in(page, server, account)
    yield page
    context.close()


def share_a_list(server: Server, ada: Account, bob: Account, role: str = "editor") -> str:
    api = httpx.Client(base_url=server.base_url, headers=ada.bearer)
    home = api.post("/api/lists", json={"name": "Home"}).json()
    api.post(f"/api/lists/{home['id']}/members", json={"email": bob.email, "role": role})
    api.post("/api/tasks", json={"title": "Milk", "list_id": home["id"]})
    return str(home["id"])


def rows(page: Page) -> Locator:
    return page.locator("#tasks li.task .title")


def bob_adds_completes_and_deletes_while_ada_types(ada_page: Page, bob_page: Page) -> None:
    """Each of Bob's changes shows on Ada's page within LIVE_MS, while her half-typed new
    task stays in its field and her page is never reloaded."""
    ada_page.evaluate(MARK)
    ada_field = ada_page.get_by_label("New task")
    ada_field.fill("half-typed")
    bob_field = bob_page.get_by_label("New task")
    bob_field.fill("Bread")
    bob_field.press("Enter")
    expect(rows(ada_page)).to_have_text(["Bread", "Milk"], timeout=LIVE_MS)
    expect(ada_page.locator("#lists-nav a[aria-current=page] .count")).to_have_text(
        "2", timeout=LIVE_MS
    )
    bob_page.get_by_role("checkbox", name="Bread").click()
    expect(ada_page.locator("#tasks li.task.done .title")).to_have_text(["Bread"], timeout=LIVE_MS)
    expect(ada_page.locator("#counter")).to_contain_text("1", timeout=LIVE_MS)
    bob_page.get_by_role("button", name="Delete Milk").click()
    expect(rows(ada_page)).to_have_text(["Bread"], timeout=LIVE_MS)
    expect(ada_field).to_have_value("half-typed")
    assert ada_page.evaluate(MARKED) == "still the same page"


@pytest.fixture
def people(server: Server) -> tuple[Account, Account]:
    return server.create_account("ada@example.com"), server.create_account("bob@example.com")


def test_changes_on_a_shared_list_appear_live_on_the_other_persons_page(
    browser: Browser, server: Server, people: tuple[Account, Account]
) -> None:
    ada, bob = people
    home = share_a_list(server, ada, bob)
    ada_pages = browser_page(browser, server, ada)
    bob_pages = browser_page(browser, server, bob)
    ada_page, bob_page = next(ada_pages), next(bob_pages)
    for page in (ada_page, bob_page):
        page.goto(server.url(f"/lists/{home}"))
    expect(rows(ada_page)).to_have_text(["Milk"])

    bob_adds_completes_and_deletes_while_ada_types(ada_page, bob_page)

    # Ada is editing Bread's notes when Bob renames it: her form stays as she typed it,
    # and once she cancels, her rows catch up.
    ada_page.get_by_role("link", name="Edit Bread").click()
    notes = ada_page.get_by_label("Notes")
    notes.fill("wholemeal")
    bob_page.get_by_role("link", name="Edit Bread").click()
    bob_page.get_by_label("Title").fill("Rye bread")
    bob_page.get_by_role("button", name="Save").click()
    expect(bob_page.locator("#tasks li.task .title")).to_have_text(["Rye bread"])
    ada_page.wait_for_timeout(LIVE_MS)
    expect(notes).to_have_value("wholemeal")
    ada_page.get_by_role("link", name="Cancel").click()
    expect(rows(ada_page)).to_have_text(["Rye bread"], timeout=LIVE_MS)

    # Ada revokes Bob: his open page of the list leaves for all his tasks.
    api = httpx.Client(base_url=server.base_url, headers=ada.bearer)
    bob_id = httpx.get(server.url("/api/me"), headers=bob.bearer).json()["id"]
    api.delete(f"/api/lists/{home}/members/{bob_id}")
    expect(bob_page).to_have_url(server.url("/"), timeout=5 * LIVE_MS)
    expect(bob_page.locator("#lists-nav")).not_to_contain_text("Home")
    for pages in (ada_pages, bob_pages):
        next(pages, None)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two app processes on two ports, one SQLite file, one Redis (their own key prefix):
    the live feed between them is Redis's."""
    need("chromium")
    need("redis")
    shared = {"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": f"live-{uuid.uuid4().hex[:8]}:"}
    database = tmp_path / "shared.sqlite3"
    with reserved_port() as port_a, reserved_port() as port_b:
        first = run_server(tmp_path / "a", port_a, database=database, extra_env=shared)
        server_a = next(first)
        second = run_server(tmp_path / "b", port_b, database=database, extra_env=shared)
        server_b = next(second)
        yield server_a, server_b
        for started in (second, first):
            next(started, None)


def test_a_change_through_one_server_appears_on_a_page_of_the_other(
    browser: Browser, two_servers: tuple[Server, Server]
) -> None:
    server_a, server_b = two_servers
    ada, bob = server_a.create_account("ada@example.com"), server_a.create_account(
        "bob@example.com"
    )
    home = share_a_list(server_a, ada, bob)
    ada_pages = browser_page(browser, server_a, ada)
    bob_pages = browser_page(browser, server_b, bob)
    ada_page, bob_page = next(ada_pages), next(bob_pages)
    ada_page.goto(server_a.url(f"/lists/{home}"))
    bob_page.goto(server_b.url(f"/lists/{home}"))
    expect(rows(bob_page)).to_have_text(["Milk"])
    bob_adds_completes_and_deletes_while_ada_types(ada_page, bob_page)
    for pages in (ada_pages, bob_pages):
        next(pages, None)
