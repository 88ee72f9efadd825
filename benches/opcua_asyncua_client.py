"""The asyncua side of benches/opcua.rs: the same discovery calls as the opcua probe.

Per round: connect_and_get_server_endpoints (Hello, OpenSecureChannel None, GetEndpoints,
CloseSecureChannel) and connect_and_find_servers (the same with FindServers), two connections
like the probe's two (its own Hello, then one channel for GetEndpoints and FindServers). The
interpreter starts once; it runs one round per line read on stdin and answers with that
round's wall time in milliseconds, so that the bench can interleave it with the probe.

usage: opcua_asyncua_client.py URL
"""

import asyncio
import sys
import time

from asyncua import Client


async def once(url: str) -> None:
    client = Client(url, timeout=5)
    endpoints = await client.connect_and_get_server_endpoints()
    servers = await client.connect_and_find_servers()
    if not endpoints or not servers:
        raise SystemExit(f"asyncua: {len(endpoints)} endpoints, {len(servers)} servers")


async def main(url: str) -> None:
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        start = time.perf_counter()
        await once(url)
        print(f"{(time.perf_counter() - start) * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
