# Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
# Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
# Outbound and local-only ports are never opened inbound; this profile marks none as such.
# Run as root. One service, portproof-ignition, holds the ports, added to the default zone.
# To make it again: firewall-cmd --permanent --delete-service=portproof-ignition

firewall-cmd --permanent --new-service=portproof-ignition
firewall-cmd --permanent --service=portproof-ignition --set-short='Inductive Automation Ignition 8.3 gateway'
firewall-cmd --permanent --service=portproof-ignition --set-description='Inbound ports of Inductive Automation Ignition 8.3 gateway (portproof profile ignition): Gateway HTTP 8088/tcp, Gateway HTTPS 8043/tcp, Gateway Network (Metro) 8060/tcp, OPC UA server 4840/tcp, OPC UA discovery 4096/tcp, Modbus TCP 502/tcp, MySQL/MariaDB 3306/tcp, PostgreSQL 5432/tcp, Microsoft SQL Server 1433/tcp, Oracle 1521/tcp'
# Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
firewall-cmd --permanent --service=portproof-ignition --add-port=8088/tcp
# Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
firewall-cmd --permanent --service=portproof-ignition --add-port=8043/tcp
# Gateway Network (Metro): gateway.metroSSLPort: gateways authenticate each other with certificates; only if using the Gateway Network
firewall-cmd --permanent --service=portproof-ignition --add-port=8060/tcp
# OPC UA server: only if the OPC UA module is enabled
firewall-cmd --permanent --service=portproof-ignition --add-port=4840/tcp
# OPC UA discovery: only if the OPC UA module is enabled
firewall-cmd --permanent --service=portproof-ignition --add-port=4096/tcp
# Modbus TCP: only if using Modbus; configured per device. Read-only: device identification, else one register (unit 1; set modbus.unit for a gateway)
firewall-cmd --permanent --service=portproof-ignition --add-port=502/tcp
# MySQL/MariaDB: only if using MySQL/MariaDB; per connection
firewall-cmd --permanent --service=portproof-ignition --add-port=3306/tcp
# PostgreSQL: only if using PostgreSQL; per connection
firewall-cmd --permanent --service=portproof-ignition --add-port=5432/tcp
# Microsoft SQL Server: only if using MS SQL; per connection
firewall-cmd --permanent --service=portproof-ignition --add-port=1433/tcp
# Oracle: only if using Oracle; per connection
firewall-cmd --permanent --service=portproof-ignition --add-port=1521/tcp
firewall-cmd --permanent --add-service=portproof-ignition
firewall-cmd --reload
