# Inbound firewall rules for WSO2 Message Broker: portproof profile wso2-mb.
# Ports from: WSO2 Carbon products, default ports reference: common ports and Message Broker; Carbon clustering guide (localMemberPort).
# Features on: none.
# Ports of features not on (--with F or --all adds them): jmx 11111/tcp, 9999/tcp; clustering 4000/tcp.
# None of these ports is outbound or local-only.
# Run as root. One service, portproof-wso2-mb, holds the ports, added to the default zone.
# To make it again: firewall-cmd --permanent --delete-service=portproof-wso2-mb

firewall-cmd --permanent --new-service=portproof-wso2-mb
firewall-cmd --permanent --service=portproof-wso2-mb --set-short='WSO2 Message Broker'
firewall-cmd --permanent --service=portproof-wso2-mb --set-description='Inbound ports of WSO2 Message Broker (portproof profile wso2-mb): Management console (HTTPS) 9443/tcp, Management console (HTTP) 9763/tcp, AMQP 5672/tcp, AMQP over TLS 8672/tcp, MQTT 1883/tcp, MQTT over TLS 8833/tcp, Thrift 7611/tcp'
# Management console (HTTPS): the Carbon management console; a self-signed default certificate needs --ca or tls.insecure
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=9443/tcp
# Management console (HTTP): servlet HTTP transport; often redirects to 9443
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=9763/tcp
# AMQP: JMS clients over the AMQP transport
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=5672/tcp
# AMQP over TLS: JMS clients over AMQP with TLS
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=8672/tcp
# MQTT: MQTT transport
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=1883/tcp
# MQTT over TLS: MQTT transport with TLS
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=8833/tcp
# Thrift: Apache Thrift server (analytics publishing)
firewall-cmd --permanent --service=portproof-wso2-mb --add-port=7611/tcp
firewall-cmd --permanent --add-service=portproof-wso2-mb
firewall-cmd --reload
