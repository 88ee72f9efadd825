//! An Ignition-like HTTP application: `/StatusPing` with a settable state, and routes for each
//! answer the http probe must grade (errors, redirects, endless bodies). The same app imitates
//! the two other web APIs the profiles check: RabbitMQ's management API (`/api/overview` and
//! the alarms health check, behind Basic auth as `guest:guest`) and WSO2's console login page.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::Server;

/// The routes served, for tests to name.
pub mod routes {
    /// Ignition's health endpoint: `{"state":"<state>"}`.
    pub const STATUS_PING: &str = "/StatusPing";
    /// Always HTTP 500.
    pub const ERROR: &str = "/error";
    /// 302 to a page on the same host (ends at `/StatusPing`).
    pub const REDIRECT_LOCAL: &str = "/redirect/local";
    /// 302 to another host, which must not be followed.
    pub const REDIRECT_OFFSITE: &str = "/redirect/offsite";
    /// 302 to itself, forever.
    pub const REDIRECT_LOOP: &str = "/redirect/loop";
    /// A body that never ends.
    pub const ENDLESS: &str = "/endless";
    /// RabbitMQ's management API overview (401 without `guest:guest`).
    pub const RABBITMQ_OVERVIEW: &str = "/api/overview";
    /// RabbitMQ's alarms health check: 200 `{"status":"ok"}`, or 503 with the alarms set.
    pub const RABBITMQ_ALARMS: &str = "/api/health/checks/alarms";
    /// WSO2 Carbon's management console login page.
    pub const WSO2_LOGIN: &str = "/carbon/admin/login.jsp";
}

/// `guest:guest` in Basic auth (RFC 7617), the only login the imitated RabbitMQ API accepts.
const GUEST_BASIC: &str = "Basic Z3Vlc3Q6Z3Vlc3Q=";

/// The state the app reports, shared so a test can change it while serving: `/StatusPing`'s
/// gateway state and the RabbitMQ API's alarms.
#[derive(Clone, Debug)]
pub struct GatewayState {
    state: Arc<Mutex<String>>,
    alarms: Arc<Mutex<Vec<String>>>,
}

impl GatewayState {
    /// A state holding `s` (Ignition's states: RUNNING, STARTING, FAULTED, STOPPED, ...).
    pub fn new(s: &str) -> Self {
        GatewayState { state: Arc::new(Mutex::new(s.to_owned())), alarms: Arc::default() }
    }
    /// Changes the reported state.
    pub fn set(&self, s: &str) {
        *self.state.lock().expect("state lock") = s.to_owned();
    }
    fn get(&self) -> String {
        self.state.lock().expect("state lock").clone()
    }
    /// Sets the resource alarms the RabbitMQ API reports (`memory`, `disk`); empty is healthy.
    pub fn set_alarms(&self, alarms: &[&str]) {
        *self.alarms.lock().expect("alarms lock") = alarms.iter().map(|a| (*a).to_owned()).collect();
    }
    fn alarms(&self) -> Vec<String> {
        self.alarms.lock().expect("alarms lock").clone()
    }
}

/// The RabbitMQ management API's answers: 401 with its realm unless the login is `guest:guest`.
fn rabbitmq_api(state: &GatewayState, req: &Request<Incoming>) -> Out {
    let authorized = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(GUEST_BASIC);
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"RabbitMQ Management\"")
            .header("server", "portproof-testbed")
            .body(Full::new(Bytes::new()).boxed())
            .expect("valid response");
    }
    let json = "application/json";
    if req.uri().path() == routes::RABBITMQ_OVERVIEW {
        return full(
            StatusCode::OK,
            json,
            r#"{"product_name":"portproof-testbed","product_version":"1.0","rabbitmq_version":"1.0","management_version":"1.0","erlang_version":"0","cluster_name":"testbed@localhost","node":"testbed@localhost"}"#,
        );
    }
    let alarms = state.alarms();
    if alarms.is_empty() {
        return full(StatusCode::OK, json, r#"{"status":"ok"}"#);
    }
    let list = alarms
        .iter()
        .map(|a| format!(r#"{{"node":"testbed@localhost","resource":"{a}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    full(
        StatusCode::SERVICE_UNAVAILABLE,
        json,
        format!(r#"{{"status":"failed","reason":"resource alarm(s) in effect","alarms":[{list}]}}"#),
    )
}

type Out = Response<BoxBody<Bytes, Infallible>>;

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Out {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("server", "portproof-testbed")
        .body(Full::new(body.into()).boxed())
        .expect("valid response")
}

fn redirect(to: &str) -> Out {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", to)
        .body(Full::new(Bytes::new()).boxed())
        .expect("valid response")
}

/// A body that yields 16 KiB chunks forever.
struct Endless(Bytes);

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(self.0.clone()))))
    }
}

fn route(state: &GatewayState, req: &Request<Incoming>) -> Out {
    match req.uri().path() {
        routes::STATUS_PING => {
            full(StatusCode::OK, "application/json;charset=utf-8", format!("{{\"state\":\"{}\"}}", state.get()))
        }
        routes::ERROR => full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "internal error"),
        routes::REDIRECT_LOCAL => redirect(routes::STATUS_PING),
        routes::REDIRECT_OFFSITE => redirect("http://elsewhere.invalid/StatusPing"),
        routes::REDIRECT_LOOP => redirect(routes::REDIRECT_LOOP),
        routes::ENDLESS => Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Endless(Bytes::from(vec![b'x'; 16 * 1024])).boxed())
            .expect("valid response"),
        routes::RABBITMQ_OVERVIEW | routes::RABBITMQ_ALARMS => rabbitmq_api(state, req),
        routes::WSO2_LOGIN => {
            full(StatusCode::OK, "text/html", "<html><title>WSO2 Management Console (portproof testbed)</title></html>")
        }
        "/" => full(StatusCode::OK, "text/html", "<html><title>Ignition Gateway (portproof testbed)</title></html>"),
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

async fn serve_conn<S>(io: S, state: GatewayState)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let out = route(&state, &req);
        async move { Ok::<_, Infallible>(out) }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc).await;
}

/// Serves the app in plain HTTP on `listener`.
pub fn serve(listener: TcpListener, state: GatewayState) -> Server {
    let addr = listener.local_addr().expect("bound listener");
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_conn(s, state.clone()));
        }
    });
    Server::new(addr, task)
}

/// Serves the app over TLS with `config` on `listener`.
pub fn serve_tls(listener: TcpListener, state: GatewayState, config: Arc<rustls::ServerConfig>) -> Server {
    let addr = listener.local_addr().expect("bound listener");
    let acceptor = TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (acceptor, state) = (acceptor.clone(), state.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve_conn(tls, state).await;
                }
            });
        }
    });
    Server::new(addr, task)
}
