"""POST /apps and DELETE /apps/{id}: isolated apps for SDK test suites, over real HTTP."""

from __future__ import annotations

import base64

import aiohttp

from tests.support.hub import Collector, HubEndpoint, wait_state
from tui_session.transport.connect import hub_realtime


async def test_created_app_has_working_keys_isolated_channels_and_can_be_deleted(
    hub: HubEndpoint,
) -> None:
    spec = {
        "keys": [{}, {"capability": '{"cansubscribe:*":["subscribe"]}'}],
        "namespaces": [{"id": "persisted", "persisted": True}],
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hub.base_url}/apps", json=spec) as response:
            assert response.status == 201
            app = await response.json()
    assert len(app["keys"]) == 2
    key = app["keys"][0]["keyStr"]
    assert key.startswith(app["appId"] + ".")

    # The new app's key works, and its channels are not the default app's channels.
    client = hub_realtime(hub.host, hub.port, key, "suite")
    hub.clients.append(client)
    await wait_state(client)
    seen = Collector()
    await client.channels.get("shared-name").subscribe(seen.add)
    await client.channels.get("shared-name").publish("n", "in the new app")
    await seen.wait_for(1)
    default_app = hub.rest("reader")
    history = await default_app.channels.get("shared-name").history()
    assert history.items == [], "apps do not share channels"
    await default_app.close()

    basic = base64.b64encode(key.encode()).decode()
    async with aiohttp.ClientSession() as http:
        async with http.delete(
            f"{hub.base_url}/apps/{app['appId']}", headers={"Authorization": f"Basic {basic}"}
        ) as response:
            assert response.status == 204
        async with http.get(
            f"{hub.base_url}/channels/shared-name/messages",
            headers={"Authorization": f"Basic {basic}"},
        ) as response:
            assert response.status == 401, "a deleted app's keys stop working"
            body = await response.json()
            assert body["error"]["code"] == 40101


async def test_deleting_another_apps_id_is_refused(hub: HubEndpoint) -> None:
    basic = base64.b64encode(hub.key.encode()).decode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hub.base_url}/apps", json={"keys": [{}]}) as response:
            other = await response.json()
        async with http.delete(
            f"{hub.base_url}/apps/{other['appId']}", headers={"Authorization": f"Basic {basic}"}
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == 40160
