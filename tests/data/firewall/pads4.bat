REM Inbound firewall rules for PADS4 digital signage server: portproof profile pads4.
REM Ports from: PADS4 network ports reference (server ports, server local ports, viewer ports).
REM Features on: none.
REM Ports of features not on (--with F or --all adds them): web 80/tcp, 443/tcp; discovery 3702/udp; ntp 123/udp; broker-tls 5671/tcp, 15671/tcp.
REM Never opened inbound, used on this machine only (keep them bound to loopback; portproof ports shows where they are): 5672/tcp RabbitMQ AMQP, 15672/tcp RabbitMQ HTTP API.
REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.

REM PADS4 communication: the one port PADS4 components talk over (inbound on the server)
netsh advfirewall firewall add rule name="PADS4 digital signage server - PADS4 communication (7237/TCP)" dir=in action=allow protocol=TCP localport=7237
