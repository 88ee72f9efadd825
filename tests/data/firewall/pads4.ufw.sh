# Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
# Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
# Outbound and local-only ports are never opened inbound; this profile marks none as such.
# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.

# PADS4 communication: the one port PADS4 components talk over (inbound on the server)
ufw allow 7237/tcp comment 'PADS4 digital signage server - PADS4 communication (7237/tcp)'

# HTML5 viewer and updates (HTTP): HTML5 viewers, software updates and replication between servers: 80 and/or 443
ufw allow 80/tcp comment 'PADS4 digital signage server - HTML5 viewer and updates (HTTP) (80/tcp)'

# HTML5 viewer and updates (HTTPS): HTML5 viewers, software updates and replication between servers: 80 and/or 443
ufw allow 443/tcp comment 'PADS4 digital signage server - HTML5 viewer and updates (HTTPS) (443/tcp)'

# RabbitMQ AMQP: the server's local message broker
ufw allow 5672/tcp comment 'PADS4 digital signage server - RabbitMQ AMQP (5672/tcp)'

# RabbitMQ AMQP over TLS: only if RabbitMQ's TLS listener is enabled
ufw allow 5671/tcp comment 'PADS4 digital signage server - RabbitMQ AMQP over TLS (5671/tcp)'

# RabbitMQ HTTP API: RabbitMQ's management API, used by the server
ufw allow 15672/tcp comment 'PADS4 digital signage server - RabbitMQ HTTP API (15672/tcp)'

# RabbitMQ HTTP API over TLS: only if the management API's TLS listener is enabled
ufw allow 15671/tcp comment 'PADS4 digital signage server - RabbitMQ HTTP API over TLS (15671/tcp)'
