//! The small harness every test module uses: run the binary, serve testbeds, read results.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Runtime;

/// The runtime that serves in-process testbeds while the binary runs.
pub fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    })
}

/// Runs `f` (usually: bind and start a testbed) on the shared runtime.
pub fn serve<T>(f: impl Future<Output = T>) -> T {
    rt().block_on(f)
}

/// A listener on an ephemeral loopback port.
pub fn listener() -> tokio::net::TcpListener {
    serve(portproof_testbeds::bind_any()).expect("bind")
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The JSON report on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
    /// The only result of a one-check JSON report.
    pub fn result(&self) -> Value {
        let j = self.json();
        assert_eq!(j["results"].as_array().map(Vec::len), Some(1), "{j:#}");
        j["results"][0].clone()
    }
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portproof"))
}

/// Runs the binary with `args`.
pub fn portproof(args: &[&str]) -> Run {
    run_with(args, None, &[])
}

/// Runs the binary with `args` and extra environment variables (passwords for `--password-env`).
pub fn portproof_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_with(args, None, env)
}

/// Runs the binary with its data segment (heap and anonymous memory) limited to `bytes`: a
/// probe that buffers what a hostile peer sends hits the limit and aborts instead of passing.
pub fn portproof_within(args: &[&str], bytes: u64) -> Run {
    run_with(args, Some(bytes), &[])
}

/// [`portproof_within`] with extra environment variables.
pub fn portproof_within_env(args: &[&str], bytes: u64, env: &[(&str, &str)]) -> Run {
    run_with(args, Some(bytes), env)
}

fn run_with(args: &[&str], data_limit: Option<u64>, env: &[(&str, &str)]) -> Run {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("PORTPROOF_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"));
    if let Some(limit) = data_limit {
        // SAFETY: setrlimit is async-signal-safe and touches only the child about to exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_DATA, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let start = Instant::now();
    let status = cmd.status().expect("run portproof");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out).expect("stdout"),
        stderr: std::fs::read_to_string(err).expect("stderr"),
        elapsed: start.elapsed(),
    }
}

/// Whether tests that need a real daemon must fail instead of skipping when it is missing.
pub fn require_real() -> bool {
    std::env::var("PORTPROOF_REQUIRE_REAL").is_ok_and(|v| v == "1")
}

/// Whether a real peer answers at `addr`; skips (returns false) with a printed reason when it
/// does not, or fails under `PORTPROOF_REQUIRE_REAL=1`.
pub fn real_peer(what: &str, addr: &str, how_to_start: &str) -> bool {
    let ok = addr
        .parse::<std::net::SocketAddr>()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some();
    if !ok {
        let msg = format!("{what} is not reachable at {addr}; start it with {how_to_start}");
        assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// Whether a real UDP peer at `addr` answers the datagram `ask` within two seconds; skips
/// (returns false) with a printed reason when it does not, or fails under
/// `PORTPROOF_REQUIRE_REAL=1`.
pub fn real_udp_peer(what: &str, addr: &str, ask: &[u8], how_to_start: &str) -> bool {
    let answered = (|| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.connect(addr).ok()?;
        s.send(ask).ok()?;
        let mut buf = [0u8; 2048];
        s.recv(&mut buf).ok()
    })()
    .is_some();
    if !answered {
        let msg = format!("{what} does not answer at {addr}/udp; start it with {how_to_start}");
        assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        eprintln!("SKIPPED: {msg}");
    }
    answered
}

/// The failure code of a result, or "" when it has none.
pub fn code(result: &Value) -> String {
    result["failure"]["code"].as_str().unwrap_or("").to_owned()
}

/// An Ignition-like gateway at a free offset (tests run in parallel and cannot assume
/// Ignition's own ports, or any fixed offset, are free).
pub fn gateway() -> portproof_testbeds::gateway::Gateway {
    serve(async {
        for offset in (30000..40000).step_by(337) {
            if let Ok(gw) = portproof_testbeds::gateway::Gateway::start(offset).await {
                return gw;
            }
        }
        panic!("no free offset for a testbed gateway");
    })
}
