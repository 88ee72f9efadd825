//! Connect-to-verdict time of the `amqp` and `mqtt` probes against the real brokers on this
//! machine, side by side with the bare client libraries doing the same handshake (the floor).
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and Mosquitto on 127.0.0.1:1883 (anonymous):
//! `bash testbeds/scripts/brokers.sh` starts both. Then:
//!
//! ```text
//! cargo bench --bench messaging                      # 200 runs of each side of each pair
//! PORTPROOF_BENCH_N=1000 cargo bench --bench messaging
//! ```
//!
//! Each pair runs 10 warm-up rounds, then N rounds interleaved (probe, bare, probe, bare, ...)
//! so that machine noise hits both sides alike. Every run must succeed: a probe that does not
//! reach its level, or a bare client that fails, aborts the bench.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lapin::{Connection, ConnectionProperties};
use portproof_probes::mqtt::{MqttOptions, MqttVersion};
use portproof_probes::{Level, Login, Outcome, ProbeCx, Target};

const HOST: &str = "127.0.0.1";
const AMQP_PORT: u16 = 5672;
const MQTT_PORT: u16 = 1883;
const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The variable the probe's `login.password_env` names; set to `guest` unless already set.
const PASSWORD_ENV: &str = "PORTPROOF_BENCH_PASSWORD";
const WARMUP: usize = 10;
const DEFAULT_N: usize = 200;
/// Deadline of one run of either side; far above any healthy run on loopback.
const RUN_TIMEOUT: Duration = Duration::from_secs(5);
/// A run at least this slow is counted: 40 ms is Linux's minimum delayed-ACK timeout, the
/// signature of a Nagle / delayed-ACK stall on loopback.
const STALL_MS: f64 = 40.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    AmqpSpeaks,
    AmqpLogin,
    Mqtt5,
    Mqtt311,
}

impl Pair {
    const ALL: [Pair; 4] = [Pair::AmqpSpeaks, Pair::AmqpLogin, Pair::Mqtt5, Pair::Mqtt311];

    fn name(self) -> &'static str {
        match self {
            Pair::AmqpSpeaks => "1 amqp, no login (speaks)",
            Pair::AmqpLogin => "2 amqp, login (healthy)",
            Pair::Mqtt5 => "3 mqtt 5 (healthy)",
            Pair::Mqtt311 => "4 mqtt 3.1.1 (healthy)",
        }
    }

    fn bare(self) -> &'static str {
        match self {
            Pair::AmqpSpeaks => "lapin connect + close",
            Pair::AmqpLogin => "lapin connect + channel + close",
            Pair::Mqtt5 => "rumqttc v5 (inflight limit 100) until ConnAck + disconnect",
            Pair::Mqtt311 => "rumqttc v4 until ConnAck + disconnect",
        }
    }

    fn note(self) -> &'static str {
        match self {
            Pair::AmqpSpeaks => {
                "probe: one connection, protocol header -> Connection.Start decoded, FIN. lapin goes \
                 further (Start-Ok, Tune, Tune-Ok, Open, Open-Ok, Close, Close-Ok) and, once connected, \
                 grows its receive and send buffers to 32 x frame_max (2 x 4 MiB with RabbitMQ's 128 KiB \
                 frame_max), fresh pages to fault in on every connection: the probe is the faster side"
            }
            Pair::AmqpLogin => {
                "probe opens two connections: its own Connection.Start read (as in pair 1), then \
                 lapin's login, channel open, Channel.Close and Connection.Close; bare is only the \
                 second connection (without the Channel.Close round trip). The probe asks for 8 KiB \
                 frames, so its lapin buffers are 2 x 256 KiB; bare lapin takes the broker's 128 KiB \
                 frames and faults in 2 x 4 MiB on every connection"
            }
            Pair::Mqtt5 | Pair::Mqtt311 => {
                "one connection on both sides; after CONNACK the probe also subscribes to \
                 $SYS/broker/version and reads the SUBACK and the retained message (one more round \
                 trip) before DISCONNECT"
            }
        }
    }

    fn target(self) -> Target {
        let mut t =
            Target::new(HOST, if matches!(self, Pair::AmqpSpeaks | Pair::AmqpLogin) { AMQP_PORT } else { MQTT_PORT });
        match self {
            Pair::AmqpSpeaks => {}
            Pair::AmqpLogin => {
                t.login = Some(Login {
                    user: "guest".into(),
                    password_env: Some(PASSWORD_ENV.into()),
                    password_file: None,
                    cleartext: Default::default(),
                    url_password: None,
                })
            }
            Pair::Mqtt5 => {}
            Pair::Mqtt311 => t.set_options(MqttOptions { version: Some(MqttVersion::V311), ..Default::default() }),
        }
        t
    }

    fn probe_name(self) -> &'static str {
        match self {
            Pair::AmqpSpeaks | Pair::AmqpLogin => "amqp",
            Pair::Mqtt5 | Pair::Mqtt311 => "mqtt",
        }
    }

    fn expected(self) -> Level {
        match self {
            Pair::AmqpSpeaks => Level::Speaks,
            _ => Level::Healthy,
        }
    }
}

/// Runs the probe once and checks it reached the pair's level; the time is the probe's whole run.
async fn probe_once(pair: Pair, t: &Target) -> Result<(Duration, Outcome), String> {
    let probe = portproof_probes::find(pair.probe_name()).ok_or("probe not registered")?;
    let start = Instant::now();
    let mut cx = ProbeCx::new(Some(start + t.timeout));
    let outcome = match tokio::time::timeout(t.timeout, probe.probe(t, &mut cx)).await {
        Ok(o) => o,
        Err(_) => cx.timed_out(t.timeout),
    };
    let took = start.elapsed();
    if outcome.level != pair.expected() {
        return Err(format!(
            "reached {} instead of {}: {}",
            outcome.level,
            pair.expected(),
            outcome.failure.as_ref().map_or("no failure given".to_owned(), |f| f.to_string())
        ));
    }
    match pair {
        // Below `healthy` the failure must be the one that says "no login given", nothing worse.
        Pair::AmqpSpeaks => {
            let code = outcome.failure.as_ref().map(|f| f.code.as_str());
            if code != Some("auth.no_credentials") {
                return Err(format!("expected failure auth.no_credentials, got {code:?}"));
            }
        }
        Pair::Mqtt5 | Pair::Mqtt311 => {
            let want = if pair == Pair::Mqtt5 { "5" } else { "3.1.1" };
            let got = outcome.facts.get("mqtt_version").and_then(|v| v.as_str());
            if got != Some(want) {
                return Err(format!("expected MQTT {want} to be spoken, facts say {got:?}"));
            }
        }
        Pair::AmqpLogin => {}
    }
    Ok((took, outcome))
}

/// Runs the bare client once; the time covers connect to close.
async fn bare_once(pair: Pair, round: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let run = async {
        match pair {
            Pair::AmqpSpeaks | Pair::AmqpLogin => {
                let conn = Connection::connect(AMQP_URI, ConnectionProperties::default())
                    .await
                    .map_err(|e| format!("lapin connect: {e}"))?;
                // Held until the connection is closed: dropping a lapin Channel starts its close,
                // which would race the Connection.Close.
                let _channel = match pair {
                    Pair::AmqpLogin => {
                        Some(conn.create_channel().await.map_err(|e| format!("lapin create_channel: {e}"))?)
                    }
                    _ => None,
                };
                conn.close(200, "bench done".into()).await.map_err(|e| format!("lapin close: {e}"))
            }
            Pair::Mqtt5 => mqtt5_bare(round).await,
            Pair::Mqtt311 => mqtt311_bare(round).await,
        }
    };
    match tokio::time::timeout(RUN_TIMEOUT, run).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no result within {RUN_TIMEOUT:?}")),
    }
}

fn client_id(round: usize) -> String {
    format!("ppbench-{}-{round}", std::process::id())
}

async fn mqtt5_bare(round: usize) -> Result<(), String> {
    use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut opts = MqttOptions::new(client_id(round), HOST, MQTT_PORT);
    // Without a limit the v5 event loop allocates a slot for each of 65,535 in-flight publishes
    // (megabytes, about a millisecond) before it connects; 100 is the v4 client's default.
    opts.set_outgoing_inflight_upper_limit(100);
    let (client, mut events) = AsyncClient::new(opts, 10);
    loop {
        match events.poll().await.map_err(|e| format!("rumqttc v5: {e}"))? {
            Event::Incoming(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Success => break,
            Event::Incoming(Packet::ConnAck(ack)) => return Err(format!("rumqttc v5: CONNACK {:?}", ack.code)),
            _ => {}
        }
    }
    client.disconnect().await.map_err(|e| format!("rumqttc v5 disconnect: {e}"))?;
    loop {
        if let Event::Outgoing(rumqttc::Outgoing::Disconnect) =
            events.poll().await.map_err(|e| format!("rumqttc v5: {e}"))?
        {
            return Ok(());
        }
    }
}

async fn mqtt311_bare(round: usize) -> Result<(), String> {
    use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Outgoing, Packet};
    let opts = MqttOptions::new(client_id(round), HOST, MQTT_PORT);
    let (client, mut events) = AsyncClient::new(opts, 10);
    loop {
        match events.poll().await.map_err(|e| format!("rumqttc: {e}"))? {
            Event::Incoming(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Success => break,
            Event::Incoming(Packet::ConnAck(ack)) => return Err(format!("rumqttc: CONNACK {:?}", ack.code)),
            _ => {}
        }
    }
    client.disconnect().await.map_err(|e| format!("rumqttc disconnect: {e}"))?;
    loop {
        if let Event::Outgoing(Outgoing::Disconnect) = events.poll().await.map_err(|e| format!("rumqttc: {e}"))? {
            return Ok(());
        }
    }
}

/// What one pair measured, in milliseconds.
struct Measured {
    pair: Pair,
    probe: Vec<f64>,
    bare: Vec<f64>,
    /// Per probe phase, the time of each run (a repeated phase summed within its run).
    phases: BTreeMap<&'static str, Vec<f64>>,
    /// Values of `mqtt_broker_version` seen, with their counts.
    sys_version: BTreeMap<String, usize>,
}

async fn measure(pair: Pair, n: usize) -> Result<Measured, String> {
    let t = pair.target();
    let mut m =
        Measured { pair, probe: Vec::new(), bare: Vec::new(), phases: BTreeMap::new(), sys_version: BTreeMap::new() };
    for round in 0..WARMUP + n {
        let (took, outcome) =
            probe_once(pair, &t).await.map_err(|e| format!("{}: probe run {}: {e}", pair.name(), round + 1))?;
        let bare = bare_once(pair, round).await.map_err(|e| format!("{}: bare run {}: {e}", pair.name(), round + 1))?;
        if round < WARMUP {
            continue;
        }
        m.probe.push(ms(took));
        m.bare.push(ms(bare));
        let mut run: BTreeMap<&'static str, f64> = BTreeMap::new();
        for p in &outcome.phases {
            *run.entry(p.phase.as_str()).or_default() += p.ms;
        }
        for (phase, v) in run {
            m.phases.entry(phase).or_default().push(v);
        }
        if let Some(v) = outcome.facts.get("mqtt_broker_version").and_then(|v| v.as_str()) {
            *m.sys_version.entry(v.to_owned()).or_default() += 1;
        }
    }
    Ok(m)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn median(v: &[f64]) -> f64 {
    let s = sorted(v);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

/// Nearest-rank percentile.
fn percentile(v: &[f64], p: f64) -> f64 {
    let s = sorted(v);
    let rank = (p * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unavailable".into())
}

async fn reachable(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await, Ok(Ok(_)))
}

fn report(results: &[Measured]) {
    println!();
    println!(
        "{:<28} {:>12} {:>10} {:>12} {:>10} {:>12}",
        "pair", "probe median", "probe p90", "bare median", "bare p90", "probe/bare"
    );
    for m in results {
        let (pm, bm) = (median(&m.probe), median(&m.bare));
        println!(
            "{:<28} {:>12.2} {:>10.2} {:>12.2} {:>10.2} {:>11.2}x",
            m.pair.name(),
            pm,
            percentile(&m.probe, 0.9),
            bm,
            percentile(&m.bare, 0.9),
            pm / bm
        );
    }
    println!("(milliseconds; bare side: {})", results.iter().map(|m| m.pair.bare()).collect::<Vec<_>>().join(" | "));

    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>10} {:>9} {:>9} {:>10}",
        "tails", "probe min", "probe max", "probe>=40", "bare min", "bare max", "bare>=40"
    );
    for m in results {
        let stalls = |v: &[f64]| v.iter().filter(|&&x| x >= STALL_MS).count();
        let (p, b) = (sorted(&m.probe), sorted(&m.bare));
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>10} {:>9.2} {:>9.2} {:>10}",
            m.pair.name(),
            p[0],
            p[p.len() - 1],
            stalls(&p),
            b[0],
            b[b.len() - 1],
            stalls(&b)
        );
    }

    println!();
    println!("where the probe's time goes (ms per phase: median/p90) and what the difference consists of:");
    for m in results {
        let phases: Vec<String> =
            m.phases.iter().map(|(p, v)| format!("{p} {:.2}/{:.2}", median(v), percentile(v, 0.9))).collect();
        println!("  {}: {}", m.pair.name(), phases.join(", "));
        if !m.sys_version.is_empty() {
            let seen: Vec<String> = m.sys_version.iter().map(|(v, n)| format!("{v:?} x{n}")).collect();
            println!("    $SYS/broker/version: {}", seen.join(", "));
        }
        println!("    {}", m.pair.note());
    }
}

fn main() -> ExitCode {
    // SAFETY: the first statement of main, before the tokio runtime or any other thread exists,
    // so nothing can read the environment concurrently.
    if std::env::var_os(PASSWORD_ENV).is_none() {
        unsafe { std::env::set_var(PASSWORD_ENV, "guest") };
    }
    let n = match std::env::var("PORTPROOF_BENCH_N") {
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("PORTPROOF_BENCH_N={s:?}: give a positive whole number of runs");
                return ExitCode::from(2);
            }
        },
        Err(_) => DEFAULT_N,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async move {
        for (port, what) in [(AMQP_PORT, "RabbitMQ (AMQP)"), (MQTT_PORT, "Mosquitto (MQTT)")] {
            if !reachable(port).await {
                eprintln!("messaging bench: {what} is not reachable on {HOST}:{port}.");
                eprintln!("Start the brokers with: bash testbeds/scripts/brokers.sh");
                return ExitCode::FAILURE;
            }
        }
        let load_start = loadavg();
        println!("messaging bench: {n} runs per side per pair after {WARMUP} warm-up rounds, interleaved probe/bare");
        println!("load average at start: {load_start}");
        let mut results = Vec::new();
        for pair in Pair::ALL {
            let started = Instant::now();
            match measure(pair, n).await {
                Ok(m) => {
                    println!("  {} done in {:.1} s", pair.name(), started.elapsed().as_secs_f64());
                    results.push(m);
                }
                Err(e) => {
                    eprintln!("messaging bench aborted: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        report(&results);
        println!();
        println!("load average at start: {load_start}; at end: {}", loadavg());
        ExitCode::SUCCESS
    })
}
