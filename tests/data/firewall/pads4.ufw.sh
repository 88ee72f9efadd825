# Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
# Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
# Features on: none.
# Ports of features not on (--with F or --all adds them): web 80/tcp, 443/tcp; discovery 3702/udp; ntp 123/udp; broker-tls 5671/tcp, 15671/tcp.
# Never opened inbound, used on this machine only (keep them bound to loopback; portproof ports shows where they are): 5672/tcp RabbitMQ AMQP, 15672/tcp RabbitMQ HTTP API.
# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.

# PADS4 communication: the one port PADS4 components talk over (inbound on the server)
ufw allow 7237/tcp comment 'PADS4 digital signage server - PADS4 communication (7237/tcp)'
