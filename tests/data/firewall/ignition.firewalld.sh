# Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
# Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
# For the gateway machine: the Ignition gateway (several hosts for load-balanced gateways). Each role's machine has its own rules (--role).
# Features on: none.
# Ports of features not on (--with F or --all adds them): require-ssl 8088/tcp; gan 8060/tcp; opcua 4840/tcp, 4096/tcp.
# None of these ports is outbound or local-only.
# Run as root. One service, portproof-ignition-gateway, holds the ports, added to the default zone.
# To make it again: firewall-cmd --permanent --delete-service=portproof-ignition-gateway

firewall-cmd --permanent --new-service=portproof-ignition-gateway
firewall-cmd --permanent --service=portproof-ignition-gateway --set-short='Inductive Automation Ignition 8.3 gateway'
firewall-cmd --permanent --service=portproof-ignition-gateway --set-description='Inbound ports of Inductive Automation Ignition 8.3 gateway (portproof profile ignition, role gateway): Gateway HTTP 8088/tcp, Gateway HTTPS 8043/tcp'
# Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
firewall-cmd --permanent --service=portproof-ignition-gateway --add-port=8088/tcp
# Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
firewall-cmd --permanent --service=portproof-ignition-gateway --add-port=8043/tcp
firewall-cmd --permanent --add-service=portproof-ignition-gateway
firewall-cmd --reload
