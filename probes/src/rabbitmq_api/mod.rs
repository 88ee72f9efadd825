//! `rabbitmq-api`: RabbitMQ's management HTTP API (15672; 15671 over TLS), an `http` preset.
//!
//! `GET /api/overview` with the login names the product, its version, Erlang and the cluster;
//! then `GET /api/health/checks/alarms` (RabbitMQ 3.8.10 and later) says whether a memory or
//! disk alarm is blocking publishers: `healthy` when there is none. Without a login the API
//! answers 401 with its realm `RabbitMQ Management`: `speaks`. Any other HTTP answer, and a
//! 200 without `rabbitmq_version` and `management_version`, is only `open`
//! (`rabbitmq.not_management_api`): an HTTP server is not RabbitMQ.

use std::collections::BTreeMap;

pub mod codes;

use crate::codes::core;
use crate::http::{self, HttpOptions, JsonCheck, StatusPattern, check, validate_options};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target};

/// The `rabbitmq-api` probe.
#[derive(Debug, Clone, Copy)]
pub struct RabbitmqApi;

fn overview() -> HttpOptions {
    let facts = [
        ("product", "/product_name"),
        ("product_version", "/product_version"),
        ("rabbitmq_version", "/rabbitmq_version"),
        ("erlang_version", "/erlang_version"),
        ("cluster_name", "/cluster_name"),
        ("management_version", "/management_version"),
        ("rabbitmq_node", "/node"),
    ];
    HttpOptions {
        path: "/api/overview".into(),
        status: Some(vec![StatusPattern::Code(200)]),
        facts: facts.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ..HttpOptions::default()
    }
}

fn alarms() -> HttpOptions {
    HttpOptions {
        path: "/api/health/checks/alarms".into(),
        // 503 carries the alarms: let it through to the JSON check, which names them.
        status: Some(vec![StatusPattern::Code(200), StatusPattern::Code(503)]),
        json: Some(JsonCheck { pointer: "/status".into(), equals: "ok".into() }),
        facts: BTreeMap::from([
            ("rabbitmq_alarms".to_owned(), "/alarms".to_owned()),
            ("rabbitmq_health_reason".to_owned(), "/reason".to_owned()),
        ]),
        ..HttpOptions::default()
    }
}

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "rabbitmq-api",
    summary: "RabbitMQ management API: /api/overview (product, version, cluster), alarms health check",
    proves: "an `http` preset for RabbitMQ's management API (15672, 15671 with `over: tls`): `speaks` only on RabbitMQ's own signs, a 401 with the realm `RabbitMQ Management` or an `/api/overview` with `rabbitmq_version` and `management_version` (any other HTTP answer is `open`); `/api/overview` names product, version, Erlang and cluster; `/api/health/checks/alarms` is `healthy`",
    default_ports: &[15672, 15671],
    codes: codes::CODES,
    logs_in: true,
    refines: Some("http"),
    ..crate::About::DEFAULT
};

impl Probe for RabbitmqApi {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.login.is_some() { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        validate_options(t, &overview())
    }
    fn key_facts(&self, facts: &crate::Facts, generic: Vec<String>) -> Vec<String> {
        crate::http::key_facts(facts, generic)
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// Whether `f` is an `http.status` failure for `status`. The answer's status is the fact the
/// exchange recorded before it judged the status; an `http.status` failure is made only then.
fn is_status(cx: &ProbeCx, f: &Failure, status: u64) -> bool {
    f.is(&http::codes::STATUS) && cx.facts().get("http_status").and_then(|v| v.as_u64()) == Some(status)
}

/// The realm RabbitMQ's management plugin names in its 401 (`rabbit_mgmt_util`).
const REALM: &str = "RabbitMQ Management";

/// The `/api/overview` fields only RabbitMQ's management plugin sends together.
const OVERVIEW_SIGNS: [&str; 2] = ["rabbitmq_version", "management_version"];

/// An HTTP service answered, but nothing in the answer is RabbitMQ's: `open`, heard as `http`.
fn not_rabbitmq(cx: &mut ProbeCx, what: String) -> Failure {
    cx.identify("http");
    Failure::new(&codes::NOT_MANAGEMENT_API, Phase::Request, what)
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    // Any HTTP answer is only `open` here: `speaks` takes RabbitMQ's own realm or fields.
    if let Err(f) = check(t, cx, &overview(), Level::Open, Level::Open).await {
        let refused = f.is(&http::codes::STATUS) || f.is(&core::AUTH_REJECTED);
        if cx.level() < Level::Open || !refused {
            return Err(f);
        }
        let realm = cx.facts().get("www_authenticate").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let status = cx.facts().get("http_status").and_then(|v| v.as_u64()).unwrap_or(0);
        if !(status == 401 && realm.contains(REALM)) {
            let realm = if realm.is_empty() { String::new() } else { format!(" ({realm})") };
            return Err(not_rabbitmq(
                cx,
                format!(
                    "/api/overview answered HTTP {status}{realm}, not the 401 with realm {REALM:?} or the overview RabbitMQ's management API answers"
                ),
            ));
        }
        cx.reach(Level::Speaks);
        cx.fact("protocol", "RabbitMQ management API");
        if t.login.is_none() {
            return Err(Failure::new(
                &core::AUTH_NO_CREDENTIALS,
                Phase::Auth,
                format!("RabbitMQ's management API answered 401 ({realm}): it needs a login to show the broker"),
            )
            .hint("give login: {user, password_env} of a user tagged monitoring (or administrator)"));
        }
        return Err(f);
    }
    // The facts copied /api/overview's fields, if the body had them.
    let missing: Vec<&str> =
        OVERVIEW_SIGNS.into_iter().filter(|k| !cx.facts().get(*k).is_some_and(serde_json::Value::is_string)).collect();
    if !missing.is_empty() {
        return Err(not_rabbitmq(
            cx,
            format!("/api/overview answered HTTP 200 without RabbitMQ's fields ({} missing)", missing.join(", ")),
        ));
    }
    cx.reach(Level::Speaks);
    cx.fact("protocol", "RabbitMQ management API");
    match check(t, cx, &alarms(), Level::Speaks, Level::Healthy).await {
        Ok(()) => Ok(()),
        Err(f) if f.is(&http::codes::UNHEALTHY_STATE) => {
            let alarms = cx.facts().get("rabbitmq_alarms").map(ToString::to_string).unwrap_or_else(|| "?".into());
            let reason =
                cx.facts().get("rabbitmq_health_reason").and_then(|v| v.as_str()).unwrap_or("alarms in effect");
            Err(Failure::new(&codes::ALARMS, Phase::Query, format!("{reason}: {alarms}")))
        }
        Err(f) if is_status(cx, &f, 404) => Err(Failure::new(
            &codes::NO_HEALTH_CHECKS,
            Phase::Query,
            "the API has no /api/health/checks/alarms (RabbitMQ before 3.8.10)",
        )),
        Err(f) => Err(f),
    }
}
