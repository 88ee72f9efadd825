REM Inbound firewall rules for Inductive Automation Ignition 8.3 gateway: portproof profile ignition.
REM Ports from: Ignition 8.3.0 Network Ports Configuration reference (gateway.xml keys noted per check).
REM Outbound and local-only ports are never opened inbound; this profile marks none as such.
REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.

REM Gateway HTTP: gateway.port: web interface, Perspective, Designer launcher, REST; the load-balancer health check
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Gateway HTTP (8088/TCP)" dir=in action=allow protocol=TCP localport=8088

REM Gateway HTTPS: gateway.sslport: recommended; either HTTP or HTTPS is required. A self-signed gateway certificate needs --ca
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Gateway HTTPS (8043/TCP)" dir=in action=allow protocol=TCP localport=8043

REM Gateway Network (Metro): gateway.metroSSLPort: gateways authenticate each other with certificates; only if using the Gateway Network
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Gateway Network (Metro) (8060/TCP)" dir=in action=allow protocol=TCP localport=8060

REM OPC UA server: only if the OPC UA module is enabled
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - OPC UA server (4840/TCP)" dir=in action=allow protocol=TCP localport=4840

REM OPC UA discovery: only if the OPC UA module is enabled
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - OPC UA discovery (4096/TCP)" dir=in action=allow protocol=TCP localport=4096

REM Modbus TCP: only if using Modbus; configured per device. Read-only: device identification, else one register (unit 1; set modbus.unit for a gateway)
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Modbus TCP (502/TCP)" dir=in action=allow protocol=TCP localport=502

REM MySQL/MariaDB: only if using MySQL/MariaDB; per connection
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - MySQL/MariaDB (3306/TCP)" dir=in action=allow protocol=TCP localport=3306

REM PostgreSQL: only if using PostgreSQL; per connection
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - PostgreSQL (5432/TCP)" dir=in action=allow protocol=TCP localport=5432

REM Microsoft SQL Server: only if using MS SQL; per connection
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Microsoft SQL Server (1433/TCP)" dir=in action=allow protocol=TCP localport=1433

REM Oracle: only if using Oracle; per connection
netsh advfirewall firewall add rule name="Inductive Automation Ignition 8.3 gateway - Oracle (1521/TCP)" dir=in action=allow protocol=TCP localport=1521
