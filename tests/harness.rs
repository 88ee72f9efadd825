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
        .env_remove("RUST_LOG")
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
        skipped(&msg);
    }
    ok
}

/// Where skipped tests are noted for the run's last test binary (`tests/skipped.rs`) to list:
/// a skip must be seen without `--nocapture`, or a run that skipped half looks all green.
pub const SKIPPED_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/portproof-skipped.txt");

/// Notes a skipped test and why, for the summary at the end of the run.
pub fn skipped(why: &str) {
    use std::io::Write;
    eprintln!("SKIPPED: {why}");
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let line = format!("{test}: {why}\n");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(SKIPPED_FILE) {
        let _ = f.write_all(line.as_bytes());
    }
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
        skipped(&msg);
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
        use portproof_testbeds::gateway::{Gateway, Product, offset_fits};
        // Below the ephemeral range and off real services' ports, away from the demo's 11000.
        for offset in (12000..24000).step_by(337).filter(|&o| offset_fits(Product::Ignition, o).is_ok()) {
            if let Ok(gw) = Gateway::start(offset).await {
                return gw;
            }
        }
        panic!("no free offset for a testbed gateway");
    })
}

/// Whether the program `name` runs here (a report's consumer: promtool, xmllint); skips with a
/// printed reason when it does not, or fails under `PORTPROOF_REQUIRE_REAL=1`.
pub fn tool(name: &str, package: &str) -> bool {
    let ok = Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        let msg = format!("{name} is not installed (Debian package {package}); run testbeds/scripts/report-tools.sh");
        assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// Runs `name args...` with `input` on its standard input; its exit code and what it printed.
pub fn pipe_through(name: &str, args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("feed");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}
