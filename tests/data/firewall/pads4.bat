REM Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
REM Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
REM Outbound and local-only ports are never opened inbound; this profile marks none as such.
REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.

REM PADS4 communication: the one port PADS4 components talk over (inbound on the server)
netsh advfirewall firewall add rule name="PADS4 digital signage server - PADS4 communication (7237/TCP)" dir=in action=allow protocol=TCP localport=7237

REM HTML5 viewer and updates (HTTP): HTML5 viewers, software updates and replication between servers: 80 and/or 443
netsh advfirewall firewall add rule name="PADS4 digital signage server - HTML5 viewer and updates (HTTP) (80/TCP)" dir=in action=allow protocol=TCP localport=80

REM HTML5 viewer and updates (HTTPS): HTML5 viewers, software updates and replication between servers: 80 and/or 443
netsh advfirewall firewall add rule name="PADS4 digital signage server - HTML5 viewer and updates (HTTPS) (443/TCP)" dir=in action=allow protocol=TCP localport=443

REM RabbitMQ AMQP: the server's local message broker
netsh advfirewall firewall add rule name="PADS4 digital signage server - RabbitMQ AMQP (5672/TCP)" dir=in action=allow protocol=TCP localport=5672

REM RabbitMQ AMQP over TLS: only if RabbitMQ's TLS listener is enabled
netsh advfirewall firewall add rule name="PADS4 digital signage server - RabbitMQ AMQP over TLS (5671/TCP)" dir=in action=allow protocol=TCP localport=5671

REM RabbitMQ HTTP API: RabbitMQ's management API, used by the server
netsh advfirewall firewall add rule name="PADS4 digital signage server - RabbitMQ HTTP API (15672/TCP)" dir=in action=allow protocol=TCP localport=15672

REM RabbitMQ HTTP API over TLS: only if the management API's TLS listener is enabled
netsh advfirewall firewall add rule name="PADS4 digital signage server - RabbitMQ HTTP API over TLS (15671/TCP)" dir=in action=allow protocol=TCP localport=15671
