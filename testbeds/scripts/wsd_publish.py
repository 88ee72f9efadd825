"""A WS-Discovery target service for portproof's tests: python WSDiscovery (PyPI) publishing one
service, run by tests/udp.rs inside a network namespace of the test's own, since it binds
0.0.0.0:3702 and joins the multicast group. Prints "published" once it answers Probes."""
import logging
import time

from wsdiscovery import QName, Scope
from wsdiscovery.publishing import ThreadedWSPublishing

logging.basicConfig(level=logging.WARNING)
publisher = ThreadedWSPublishing()
publisher.start()
publisher.publishService(
    types=[QName("http://example.org/pads", "PadsServer", "p")],
    scopes=[Scope("http://example.org/pads4")],
    xAddrs=["net.tcp://127.0.0.1:7237/"],
)
print("published", flush=True)
while True:
    time.sleep(1)
