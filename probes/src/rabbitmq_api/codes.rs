//! The `rabbitmq-api` probe's own codes; its requests fail with `http.*` like any HTTP check.

crate::codes! {
    /// An HTTP service answered, without RabbitMQ's signs.
    NOT_MANAGEMENT_API = failure "rabbitmq.not_management_api" at Open {
        about: "the port answers HTTP, but neither a 401 with the realm \"RabbitMQ Management\" nor an /api/overview with rabbitmq_version and management_version: not RabbitMQ's management API",
        hint: "another HTTP service listens here: check the port (RabbitMQ's management API is 15672, 15671 over TLS) and that the rabbitmq_management plugin is enabled",
        spec: "RabbitMQ HTTP API reference, GET /api/overview",
    }
    /// A resource alarm is in effect.
    ALARMS = failure "rabbitmq.alarms" at Speaks {
        about: "the node reports a memory or free-disk alarm, which blocks every publishing connection",
        hint: "a memory or disk alarm blocks every publisher: free memory or disk on the node, or raise its watermark",
        spec: "RabbitMQ documentation, Memory and Disk Alarms",
    }
    /// The API has no health-check endpoints.
    NO_HEALTH_CHECKS = failure "rabbitmq.no_health_checks" at Speaks {
        about: "the management API answered 404 for /api/health/checks/alarms: RabbitMQ older than 3.8.10",
        hint: "upgrade RabbitMQ, or check this port at level speaks",
        spec: "RabbitMQ HTTP API reference, GET /api/health/checks/alarms",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_the_rabbitmq_api_tests_know_is_in_a_table() {
        // tests/brokers.rs and tests/messaging.rs check the testbed's RabbitMQ management API.
        for c in ["rabbitmq.alarms", "rabbitmq.no_health_checks", "auth.no_credentials", "auth.rejected"] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }
}
