# Inbound firewall rules for WSO2 Message Broker: portproof profile wso2-mb.
# Ports from: WSO2 Carbon products, default ports reference: common ports and Message Broker; Carbon clustering guide (localMemberPort).
# Features on: none.
# Ports of features not on (--with F or --all adds them): jmx 11111/tcp, 9999/tcp; clustering 4000/tcp.
# None of these ports is outbound or local-only.
# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.

# Management console (HTTPS): the Carbon management console; a self-signed default certificate needs --ca or tls.insecure
ufw allow 9443/tcp comment 'WSO2 Message Broker - Management console (HTTPS) (9443/tcp)'

# Management console (HTTP): servlet HTTP transport; often redirects to 9443
ufw allow 9763/tcp comment 'WSO2 Message Broker - Management console (HTTP) (9763/tcp)'

# AMQP: JMS clients over the AMQP transport
ufw allow 5672/tcp comment 'WSO2 Message Broker - AMQP (5672/tcp)'

# AMQP over TLS: JMS clients over AMQP with TLS
ufw allow 8672/tcp comment 'WSO2 Message Broker - AMQP over TLS (8672/tcp)'

# MQTT: MQTT transport
ufw allow 1883/tcp comment 'WSO2 Message Broker - MQTT (1883/tcp)'

# MQTT over TLS: MQTT transport with TLS
ufw allow 8833/tcp comment 'WSO2 Message Broker - MQTT over TLS (8833/tcp)'

# Thrift: Apache Thrift server (analytics publishing)
ufw allow 7611/tcp comment 'WSO2 Message Broker - Thrift (7611/tcp)'
