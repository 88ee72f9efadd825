REM Inbound firewall rules for WSO2 Message Broker: portproof profile wso2-mb.
REM Ports from: WSO2 Carbon products, default ports reference: common ports and Message Broker; Carbon clustering guide (localMemberPort).
REM Features on: none.
REM Ports of features not on (--with F or --all adds them): jmx 11111/tcp, 9999/tcp; clustering 4000/tcp.
REM None of these ports is outbound or local-only.
REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.

REM Management console (HTTPS): the Carbon management console; a self-signed default certificate needs --ca or tls.insecure
netsh advfirewall firewall add rule name="WSO2 Message Broker - Management console (HTTPS) (9443/TCP)" dir=in action=allow protocol=TCP localport=9443

REM Management console (HTTP): servlet HTTP transport; often redirects to 9443
netsh advfirewall firewall add rule name="WSO2 Message Broker - Management console (HTTP) (9763/TCP)" dir=in action=allow protocol=TCP localport=9763

REM AMQP: JMS clients over the AMQP transport
netsh advfirewall firewall add rule name="WSO2 Message Broker - AMQP (5672/TCP)" dir=in action=allow protocol=TCP localport=5672

REM AMQP over TLS: JMS clients over AMQP with TLS
netsh advfirewall firewall add rule name="WSO2 Message Broker - AMQP over TLS (8672/TCP)" dir=in action=allow protocol=TCP localport=8672

REM MQTT: MQTT transport
netsh advfirewall firewall add rule name="WSO2 Message Broker - MQTT (1883/TCP)" dir=in action=allow protocol=TCP localport=1883

REM MQTT over TLS: MQTT transport with TLS
netsh advfirewall firewall add rule name="WSO2 Message Broker - MQTT over TLS (8833/TCP)" dir=in action=allow protocol=TCP localport=8833

REM Thrift: Apache Thrift server (analytics publishing)
netsh advfirewall firewall add rule name="WSO2 Message Broker - Thrift (7611/TCP)" dir=in action=allow protocol=TCP localport=7611
