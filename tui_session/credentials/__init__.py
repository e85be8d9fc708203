"""Credentials shared by the hub, the agent service and the terminals.

`capability`: Ably capabilities; `jwt`: Ably JWTs signed with an app key (issued and verified
the same way on the hub and on Ably's cloud); `revocation`: Ably's token revocation list;
`tls`: the hub's certificate and the SSL contexts that trust exactly it. No asyncio here.
"""
