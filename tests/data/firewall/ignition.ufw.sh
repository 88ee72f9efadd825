# Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
# Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
# Outbound and local-only ports are never opened inbound; this profile marks none as such.
# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.

# Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
ufw allow 8088/tcp comment 'Inductive Automation Ignition 8.3 gateway - Gateway HTTP (8088/tcp)'

# Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
ufw allow 8043/tcp comment 'Inductive Automation Ignition 8.3 gateway - Gateway HTTPS (8043/tcp)'

# Gateway Network (Metro): gateway.metroSSLPort: gateways authenticate each other with certificates; only if using the Gateway Network
ufw allow 8060/tcp comment 'Inductive Automation Ignition 8.3 gateway - Gateway Network (Metro) (8060/tcp)'

# OPC UA server: only if the OPC UA module is enabled
ufw allow 4840/tcp comment 'Inductive Automation Ignition 8.3 gateway - OPC UA server (4840/tcp)'

# OPC UA discovery: only if the OPC UA module is enabled
ufw allow 4096/tcp comment 'Inductive Automation Ignition 8.3 gateway - OPC UA discovery (4096/tcp)'

# Modbus TCP: only if using Modbus; configured per device. Read-only: device identification, else one register (unit 1; set modbus.unit for a gateway)
ufw allow 502/tcp comment 'Inductive Automation Ignition 8.3 gateway - Modbus TCP (502/tcp)'

# MySQL/MariaDB: only if using MySQL/MariaDB; per connection
ufw allow 3306/tcp comment 'Inductive Automation Ignition 8.3 gateway - MySQL/MariaDB (3306/tcp)'

# PostgreSQL: only if using PostgreSQL; per connection
ufw allow 5432/tcp comment 'Inductive Automation Ignition 8.3 gateway - PostgreSQL (5432/tcp)'

# Microsoft SQL Server: only if using MS SQL; per connection
ufw allow 1433/tcp comment 'Inductive Automation Ignition 8.3 gateway - Microsoft SQL Server (1433/tcp)'

# Oracle: only if using Oracle; per connection
ufw allow 1521/tcp comment 'Inductive Automation Ignition 8.3 gateway - Oracle (1521/tcp)'
