# Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
# Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
# Features on: none.
# Ports of features not on (--with F or --all adds them): web 80/tcp, 443/tcp; discovery 3702/udp; ntp 123/udp; broker-tls 5671/tcp, 15671/tcp.
# Never opened inbound, used on this machine only (keep them bound to loopback; portproof ports shows where they are): 5672/tcp RabbitMQ AMQP, 15672/tcp RabbitMQ HTTP API.
# Run as root. One service, portproof-pads4, holds the ports, added to the default zone.
# To make it again: firewall-cmd --permanent --delete-service=portproof-pads4

firewall-cmd --permanent --new-service=portproof-pads4
firewall-cmd --permanent --service=portproof-pads4 --set-short='PADS4 digital signage server'
firewall-cmd --permanent --service=portproof-pads4 --set-description='Inbound ports of PADS4 digital signage server (portproof profile pads4): PADS4 communication 7237/tcp'
# PADS4 communication: the one port PADS4 components talk over (inbound on the server)
firewall-cmd --permanent --service=portproof-pads4 --add-port=7237/tcp
firewall-cmd --permanent --add-service=portproof-pads4
firewall-cmd --reload
