# Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
# Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
# Outbound and local-only ports are never opened inbound; this profile marks none as such.
# Run as root. One service, portproof-pads4, holds the ports, added to the default zone.
# To make it again: firewall-cmd --permanent --delete-service=portproof-pads4

firewall-cmd --permanent --new-service=portproof-pads4
firewall-cmd --permanent --service=portproof-pads4 --set-short='PADS4 digital signage server'
firewall-cmd --permanent --service=portproof-pads4 --set-description='Inbound ports of PADS4 digital signage server (portproof profile pads4): PADS4 communication 7237/tcp, HTML5 viewer and updates (HTTP) 80/tcp, HTML5 viewer and updates (HTTPS) 443/tcp, RabbitMQ AMQP 5672/tcp, RabbitMQ AMQP over TLS 5671/tcp, RabbitMQ HTTP API 15672/tcp, RabbitMQ HTTP API over TLS 15671/tcp'
# PADS4 communication: the one port PADS4 components talk over (inbound on the server)
firewall-cmd --permanent --service=portproof-pads4 --add-port=7237/tcp
# HTML5 viewer and updates (HTTP): HTML5 viewers, software updates and replication between servers: 80 and/or 443
firewall-cmd --permanent --service=portproof-pads4 --add-port=80/tcp
# HTML5 viewer and updates (HTTPS): HTML5 viewers, software updates and replication between servers: 80 and/or 443
firewall-cmd --permanent --service=portproof-pads4 --add-port=443/tcp
# RabbitMQ AMQP: the server's local message broker
firewall-cmd --permanent --service=portproof-pads4 --add-port=5672/tcp
# RabbitMQ AMQP over TLS: only if RabbitMQ's TLS listener is enabled
firewall-cmd --permanent --service=portproof-pads4 --add-port=5671/tcp
# RabbitMQ HTTP API: RabbitMQ's management API, used by the server
firewall-cmd --permanent --service=portproof-pads4 --add-port=15672/tcp
# RabbitMQ HTTP API over TLS: only if the management API's TLS listener is enabled
firewall-cmd --permanent --service=portproof-pads4 --add-port=15671/tcp
firewall-cmd --permanent --add-service=portproof-pads4
firewall-cmd --reload
