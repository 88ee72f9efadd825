"""The real OPC UA peers of portproof's tests: Python asyncua's server, on loopback.

Started detached by testbeds/scripts/opcua.sh, in one of two roles (nothing of portproof's
code runs in either):

  server PORT CERT KEY LDS_URL   endpoints SecurityPolicy None and Basic256Sha256
                                 (SignAndEncrypt), anonymous, application "portproof asyncua
                                 testbed"; registers itself with the discovery server at LDS_URL
                                 (RegisterServer, renewed every 30 s)
  lds PORT CERT KEY              a discovery server (ApplicationType DiscoveryServer, None only)
                                 whose FindServers lists what registered with it

usage: opcua_server.py ROLE PORT CERT_DER KEY_PEM [LDS_URL]
"""

import asyncio
import logging
import sys

from asyncua import Server, ua

ROLES = {
    "server": ("portproof asyncua testbed", "urn:portproof:asyncua-testbed"),
    "lds": ("portproof asyncua LDS", "urn:portproof:asyncua-lds"),
}


async def main(role: str, port: int, cert: str, key: str, lds_url: str | None) -> None:
    name, uri = ROLES[role]
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_server_name(name)
    await server.set_application_uri(uri)
    server.product_uri = f"{uri}:product"
    policies = [ua.SecurityPolicyType.NoSecurity]
    if role == "lds":
        server.application_type = ua.ApplicationType.DiscoveryServer
    else:
        policies.append(ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt)
    server.set_security_policy(policies)
    await server.load_certificate(cert)
    await server.load_private_key(key)
    async with server:
        while lds_url:
            try:
                await server.register_to_discovery(lds_url, period=30)
                break
            except Exception as e:  # the LDS may still be starting: try again, gently
                logging.warning("registering with %s: %s", lds_url, e)
                await asyncio.sleep(2)
        while True:
            await asyncio.sleep(3600)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    args = sys.argv[1:]
    asyncio.run(main(args[0], int(args[1]), args[2], args[3], args[4] if len(args) > 4 else None))
