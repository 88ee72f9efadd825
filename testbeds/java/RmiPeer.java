// A real JDK RMI registry and JMX connector server for the rmi and jmx probes' tests, bound to
// 127.0.0.1 only (the JDK's own rmiregistry and -Dcom.sun.management.jmxremote listen on every
// interface). Started by testbeds/scripts/java.sh.
//
//   java RmiPeer REGISTRY_PORT SERVER_PORT PLAIN_REGISTRY_PORT
//
// REGISTRY_PORT: a registry with the JMX connector server bound as "jmxrmi" (what a JVM started
// with com.sun.management.jmxremote.port offers, and what WSO2's 11111 is).
// SERVER_PORT: the port the JMX RMI server object is exported on: an RMI server that is not a
// registry (WSO2's 9999), which answers a registry call with NoSuchObjectException.
// PLAIN_REGISTRY_PORT: a registry with one name of its own and no JMX.

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.rmi.Remote;
import java.rmi.RemoteException;
import java.rmi.registry.LocateRegistry;
import java.rmi.registry.Registry;
import java.rmi.server.RMIClientSocketFactory;
import java.rmi.server.RMIServerSocketFactory;
import java.rmi.server.UnicastRemoteObject;
import java.util.HashMap;
import java.util.Map;
import javax.management.remote.JMXConnectorServer;
import javax.management.remote.JMXConnectorServerFactory;
import javax.management.remote.JMXServiceURL;
import javax.management.remote.rmi.RMIConnectorServer;

public class RmiPeer {
    /** Listens on loopback only. */
    static final class Loopback implements RMIServerSocketFactory, java.io.Serializable {
        public ServerSocket createServerSocket(int port) throws IOException {
            return new ServerSocket(port, 50, InetAddress.getLoopbackAddress());
        }
        public boolean equals(Object o) { return o instanceof Loopback; }
        public int hashCode() { return 1; }
    }

    /** A remote interface of our own, so the plain registry holds a name that is not JMX. */
    public interface Hello extends Remote { String hello() throws RemoteException; }

    static final class HelloImpl implements Hello {
        public String hello() { return "hello"; }
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("java.rmi.server.hostname", "127.0.0.1");
        int registryPort = Integer.parseInt(args[0]);
        int serverPort = Integer.parseInt(args[1]);
        int plainPort = Integer.parseInt(args[2]);
        Loopback loopback = new Loopback();
        Registry jmxRegistry = LocateRegistry.createRegistry(registryPort, null, loopback);
        Map<String, Object> env = new HashMap<>();
        env.put(RMIConnectorServer.RMI_SERVER_SOCKET_FACTORY_ATTRIBUTE, loopback);
        JMXServiceURL url = new JMXServiceURL(
            "service:jmx:rmi://127.0.0.1:" + serverPort + "/jndi/rmi://127.0.0.1:" + registryPort + "/jmxrmi");
        JMXConnectorServer cs =
            JMXConnectorServerFactory.newJMXConnectorServer(url, env, ManagementFactory.getPlatformMBeanServer());
        cs.start();
        Registry plain = LocateRegistry.createRegistry(plainPort, null, loopback);
        HelloImpl impl = new HelloImpl();
        Remote stub = UnicastRemoteObject.exportObject(impl, 0, null, loopback);
        plain.bind("portproof-hello", stub);
        System.out.println("RmiPeer: registry+jmxrmi on " + registryPort + ", JMX RMI server on " + serverPort
            + ", plain registry on " + plainPort);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
