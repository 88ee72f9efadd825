REM Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
REM Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
REM For the gateway machine: the Ignition gateway (several hosts for load-balanced gateways). Each role's machine has its own rules (--role).
REM Features on: none.
REM Ports of features not on (--with F or --all adds them): require-ssl 8088/tcp; gan 8060/tcp; opcua 4840/tcp, 4096/tcp.
REM None of these ports is outbound or local-only.
REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.

REM Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Gateway HTTP (8088/TCP)" dir=in action=allow protocol=TCP localport=8088

REM Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Gateway HTTPS (8043/TCP)" dir=in action=allow protocol=TCP localport=8043
