"""A browser through the proxy of the scaled-out cluster (`replica_cluster`: three app
replicas behind nginx, so each request may land on any replica): a person's tasks with
JavaScript on and off, and two people on a shared list seeing each other's changes live
(the stream held by one replica, the writes served by the others)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.accounts import Person, make_person
from tests.browser.conftest import browser, log_in, new_context, playwright  # noqa: F401
from tests.browser.test_live import bob_adds_completes_and_deletes_while_ada_types, share_a_list
from tests.cluster.replicas import ReplicaCluster

pytestmark = [pytest.mark.mariadb, pytest.mark.redis, pytest.mark.rabbitmq, pytest.mark.browser]


@dataclass(frozen=True)
class Proxy:
    """The cluster's way in, as the browser tests' helpers take a server."""

    base_url: str

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def person(cluster: ReplicaCluster, name: str) -> Person:
    """An account in the cluster's database (made on a thread: Playwright's sync API
    holds this one's event loop)."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    made = make_person(cluster.database_url, email, name=name.title())
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, made).result()


def page_of(chromium: Browser, proxy: Proxy, who: Person, *, javascript: bool) -> Iterator[Page]:
    context = new_context(chromium, javascript=javascript)
    page = context.new_page()
    log_in(page, proxy, who)  # type: ignore[arg-type]
    yield page
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_persons_tasks_through_the_proxy(
    replica_cluster: ReplicaCluster, browser: Browser, javascript: bool  # noqa: F811
) -> None:
    proxy = Proxy(replica_cluster.base_url)
    ada = person(replica_cluster, "ada")
    pages = page_of(browser, proxy, ada, javascript=javascript)
    page = next(pages)
    field = page.get_by_label("New task")
    for title in ("Milk", "Bread"):
        page.get_by_label("New task").fill(title)
        page.get_by_label("New task").press("Enter")
        expect(page.get_by_role("checkbox", name=title)).to_be_visible()
    page.get_by_role("checkbox", name="Milk").click()
    expect(page.locator("#tasks li.task.done .title")).to_have_text(["Milk"])
    page.get_by_role("button", name="Delete Bread").click()
    expect(page.locator("#tasks li.task .title")).to_have_text(["Milk"])
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#tasks li.task .title")).to_have_text(["Bread", "Milk"])
    page.reload()
    expect(page.locator("#tasks li.task .title")).to_have_text(["Bread", "Milk"])
    expect(field).to_be_visible()
    next(pages, None)


def test_two_people_on_a_shared_list_through_the_proxy(
    replica_cluster: ReplicaCluster, browser: Browser  # noqa: F811
) -> None:
    proxy = Proxy(replica_cluster.base_url)
    ada, bob = person(replica_cluster, "ada"), person(replica_cluster, "bob")
    home = share_a_list(proxy, ada, bob)  # type: ignore[arg-type]
    ada_pages = page_of(browser, proxy, ada, javascript=True)
    bob_pages = page_of(browser, proxy, bob, javascript=True)
    ada_page, bob_page = next(ada_pages), next(bob_pages)
    for page in (ada_page, bob_page):
        page.goto(proxy.url(f"/lists/{home}"))
    expect(bob_page.locator("#tasks li.task .title")).to_have_text(["Milk"])
    bob_adds_completes_and_deletes_while_ada_types(ada_page, bob_page)
    for pages in (ada_pages, bob_pages):
        next(pages, None)
