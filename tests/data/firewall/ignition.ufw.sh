# Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
# Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
# For the gateway machine: the Ignition gateway (several hosts for load-balanced gateways). Each role's machine has its own rules (--role).
# Features on: none.
# Ports of features not on (--with F or --all adds them): require-ssl 8088/tcp; gan 8060/tcp; opcua 4840/tcp, 4096/tcp.
# None of these ports is outbound or local-only.
# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.

# Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
ufw allow 8088/tcp comment 'Inductive Automation Ignition 8.3 gateway - Gateway HTTP (8088/tcp)'

# Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
ufw allow 8043/tcp comment 'Inductive Automation Ignition 8.3 gateway - Gateway HTTPS (8043/tcp)'
