"""Apache Thrift servers (the `thrift` library from PyPI) for the thrift probe's tests.

One process, one TThreadedServer per port, each a real Thrift stack of the library's own
transports and protocols:

    thrift_server.py BUFFERED FRAMED COMPACT TLS CERT KEY

    BUFFERED  TBinaryProtocol over TBufferedTransport (unframed), as WSO2's 7611
    FRAMED    TBinaryProtocol over TFramedTransport, as Cassandra's 9160
    COMPACT   TCompactProtocol over TFramedTransport
    TLS       TBinaryProtocol over TBufferedTransport inside TLS (TSSLServerSocket), as WSO2's 7711

The service has one method, `ping`. Its processor does for any other name what the code the
Thrift compiler generates for Python does (the `process` method of a generated Processor): skip
the arguments and answer TApplicationException UNKNOWN_METHOD, "Unknown function NAME". No
compiler is needed for a service of one method.
"""

import ssl
import sys
import threading

from thrift.Thrift import TApplicationException, TMessageType, TProcessor, TType
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.server import TServer
from thrift.transport import TSocket, TSSLSocket, TTransport


class Processor(TProcessor):
    """A service with the one method `ping` (no arguments, void)."""

    def process(self, iprot, oprot):
        name, _type, seqid = iprot.readMessageBegin()
        iprot.skip(TType.STRUCT)
        iprot.readMessageEnd()
        if name == "ping":
            oprot.writeMessageBegin("ping", TMessageType.REPLY, seqid)
            oprot.writeStructBegin("ping_result")
            oprot.writeFieldStop()
            oprot.writeStructEnd()
        else:
            x = TApplicationException(TApplicationException.UNKNOWN_METHOD, "Unknown function %s" % name)
            oprot.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
            x.write(oprot)
        oprot.writeMessageEnd()
        oprot.trans.flush()
        return True


def serve(socket, transport, protocol):
    server = TServer.TThreadedServer(Processor(), socket, transport, protocol, daemon=True)
    server.daemon = True
    t = threading.Thread(target=server.serve, daemon=True)
    t.start()
    return t


def main():
    buffered, framed, compact, tls = (int(p) for p in sys.argv[1:5])
    cert, key = sys.argv[5], sys.argv[6]
    host = "127.0.0.1"
    # The server's certificate; no client certificate is asked for.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    threads = [
        serve(TSocket.TServerSocket(host, buffered), TTransport.TBufferedTransportFactory(),
              TBinaryProtocol.TBinaryProtocolFactory()),
        serve(TSocket.TServerSocket(host, framed), TTransport.TFramedTransportFactory(),
              TBinaryProtocol.TBinaryProtocolFactory()),
        serve(TSocket.TServerSocket(host, compact), TTransport.TFramedTransportFactory(),
              TCompactProtocol.TCompactProtocolFactory()),
        serve(TSSLSocket.TSSLServerSocket(host, tls, ssl_context=context),
              TTransport.TBufferedTransportFactory(), TBinaryProtocol.TBinaryProtocolFactory()),
    ]
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
