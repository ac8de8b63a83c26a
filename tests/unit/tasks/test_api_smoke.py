from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_create_then_list(client: AsyncTestClient[Litestar]) -> None:
    created = await client.post("/api/tasks", json={"title": "  Buy milk  "})
    assert created.status_code == 201
    assert created.json()["title"] == "Buy milk"
    listed = await client.get("/api/tasks")
    assert [t["title"] for t in listed.json()["items"]] == ["Buy milk"]
    assert listed.json()["total"] == 1
