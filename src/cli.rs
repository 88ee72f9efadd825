//! The command line: clap definitions and what each subcommand does.
//!
//! Exit codes: 0 every required check passed, 1 some did not, 2 usage or configuration error.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use portproof_probes::{ClientAuth, Level, Login, Over, TlsOptions};
use portproof_testbeds::gateway::{self, Gateway, Product};
use tokio_util::sync::CancellationToken;

use crate::manifest::{self, Check, CheckSpec, Manifest, ManifestError, Overrides, RawCheck};
use crate::probe_args::ProbeArgs;
use crate::profile;
use crate::report::{self, Format};
use crate::runner::{self, Report, RunOptions};

const EXAMPLES: &str = "\
Examples:
  portproof demo
  portproof check 10.0.0.5:8088 --expect http --path /StatusPing --json-field state=RUNNING
  portproof check http://10.0.0.5:8088/StatusPing
  portproof check 10.0.0.5:8043 --expect https --ca gateway-ca.pem
  portproof profile ignition --host 10.0.0.5 --format junit -o ignition.xml
  portproof run checks.yaml --offset 100 --wait 2m
  portproof schema manifest > manifest.schema.json

Exit codes: 0 every required check passed, 1 some did not, 2 usage or configuration error.";

/// portproof proves that each port speaks the protocol it should, and says why when it does not.
#[derive(Debug, Parser)]
#[command(name = "portproof", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check one port: `HOST:PORT --expect PROTO`, or an http(s):// URL.
    #[command(after_help = "Examples:
  portproof check 127.0.0.1:8088 --expect http --path /StatusPing --json-field state=RUNNING
  portproof check https://gw.example:8043/StatusPing --ca ca.pem --require healthy
  portproof check [::1]:22 --expect tcp")]
    Check(Box<CheckArgs>),
    /// Run every check of a YAML manifest (`portproof schema manifest` describes the format).
    #[command(after_help = "Examples:
  portproof run checks.yaml
  portproof run checks.yaml --host 10.0.0.5 --offset 100 --format junit -o report.xml
  portproof run checks.yaml --wait 2m      # retry until the testbed is up, at most 2 minutes")]
    Run(RunArgs),
    /// Diagnose a TLS port: verdict and fix, versions × cipher suites, chain, client certificates.
    /// Exits 1 unless the verdict is healthy (a verified chain, client authentication as stated).
    #[command(after_help = "Examples:
  portproof tls 10.0.0.5:8043
  portproof tls 10.0.0.5:8060 --ca ca.pem --client-cert gw.pem --client-key gw-key.pem
  portproof tls 10.0.0.5:8060 --ca ca.pem --client-auth required --format json")]
    Tls(Box<TlsCmdArgs>),
    /// Name the protocol each port speaks, proved by the probes themselves (the port's own
    /// probe first, after a silent listen and a TLS handshake). Exits 1 unless every port was
    /// identified.
    #[command(after_help = "Examples:
  portproof identify 10.0.0.5:8088
  portproof identify 10.0.0.5:22,80,443,3306,5432,5672 --format json
  portproof identify 10.0.0.5:7237 --listen 3s --per-try 5s")]
    Identify(crate::identify::IdentifyArgs),
    /// Run an embedded product profile (`portproof profiles` lists them).
    #[command(after_help = "Examples:
  portproof profile ignition --host 10.0.0.5
  portproof profile ignition --list --with opcua
  portproof profile ignition --host gateway=10.0.0.5,10.0.0.6 --host database=10.0.0.9 --with postgres
  portproof profile ignition --host 10.0.0.5 --config gateway.xml --with gan,opcua
  portproof profile wso2-mb --host 10.0.0.7 --config carbon.xml
  portproof profile ignition --host 127.0.0.1 --offset 11000 --format json")]
    Profile(ProfileArgs),
    /// List the embedded product profiles.
    #[command(after_help = "Examples:
  portproof profiles
  portproof profile ignition --host 10.0.0.5")]
    Profiles,
    /// List the probes with their default ports.
    #[command(after_help = "Examples:
  portproof probes
  portproof probes --markdown     # the README's probe table
  portproof check 10.0.0.5:8088 --expect http")]
    Probes(ProbesArgs),
    /// List every failure and warning code, with the level it leaves a check at and its hint.
    #[command(after_help = "Examples:
  portproof codes
  portproof codes tls
  portproof explain tls.cert_incomplete_chain")]
    Codes(CodesArgs),
    /// Explain a code: what it means, the usual causes and the fix, with the spec reference.
    #[command(after_help = "Examples:
  portproof explain tls.cert_incomplete_chain
  portproof explain amqp.closed.403")]
    Explain(ExplainArgs),
    /// Print a JSON Schema, so editors can complete and check manifests.
    #[command(after_help = "Examples:
  portproof schema manifest > manifest.schema.json
  portproof schema report > report.schema.json")]
    Schema(SchemaArgs),
    /// Serve the in-process Ignition-like testbed on loopback until Ctrl-C.
    #[command(after_help = "Examples:
  portproof testbed --offset 11000        # then, in another shell:
  portproof profile ignition --host 127.0.0.1 --offset 11000")]
    Testbed(TestbedArgs),
    /// Start the testbed in-process and run the Ignition profile against it.
    #[command(after_help = "Examples:
  portproof demo
  portproof demo --format junit -o demo.xml")]
    Demo(DemoArgs),
    /// Print the firewall rules that open one machine's inbound ports of a product (Windows
    /// netsh, an nft -f file, ufw, firewall-cmd), ready to run.
    #[command(after_help = "Examples:
  portproof firewall ignition --os windows > ignition-firewall.bat
  portproof firewall ignition --os windows --with gan,opcua     # the features the site uses
  portproof firewall ignition --os ufw --role database --with postgres
  portproof firewall ignition --os windows --config gateway.xml # the ports the gateway sets
  portproof firewall ignition --os nftables > ignition.nft && nft -c -f ignition.nft
  portproof firewall wso2-mb --os ufw --offset 1
  portproof firewall checks.yaml --os firewalld")]
    Firewall(FirewallArgs),
    /// Show, on this machine, whether each of a product's ports is free or which process holds
    /// it, on which address (Linux, from /proc).
    #[command(after_help = "Examples:
  portproof ports ignition
  portproof ports ignition --process ignition      # name the product's own process: others are conflicts
  portproof ports pads4                            # a local-only broker on 0.0.0.0 is EXPOSED
  portproof ports wso2-mb --offset 1 --format json")]
    Ports(PortsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  portproof completions bash > ~/.local/share/bash-completion/completions/portproof
  portproof completions zsh > ~/.zfunc/_portproof
  portproof completions fish > ~/.config/fish/completions/portproof.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to standard output.
    #[command(after_help = "Examples:
  portproof man > portproof.1 && man ./portproof.1")]
    Man,
}

/// `portproof completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where and how to write the report.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Report format [default: table].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Colour in the table: auto is on a terminal, unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    pub color: When,
}

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// On a terminal, unless the NO_COLOR environment variable is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl OutputArgs {
    /// Whether the table gets ANSI colours.
    fn color(&self, format: Format) -> bool {
        format == Format::Table
            && match self.color {
                When::Always => true,
                When::Never => false,
                When::Auto => {
                    self.output.is_none()
                        && std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            }
    }
}

/// How the runner runs.
#[derive(Debug, Args, Clone)]
pub struct RunnerArgs {
    /// Deadline of one probe attempt, like 2s or 500ms (replaces the manifest's).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Most probes at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Most probes at once against one host (Modbus and OPC UA checks of one host share one
    /// connection whatever this says).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub per_host: u16,
    /// Retry failing checks until they pass or this much time has passed (for testbeds that are
    /// still starting), like 2m.
    #[arg(long, value_parser = parse_duration)]
    pub wait: Option<Duration>,
}

/// `portproof check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// HOST:PORT ([v6]:PORT for IPv6), or an http:// or https:// URL.
    pub target: String,
    /// The protocol the port must speak (see `portproof probes`); implied by a URL.
    #[arg(long, short = 'e')]
    pub expect: Option<String>,
    /// Level needed to pass: open, speaks or healthy [default: speaks, or healthy when a
    /// health criterion is given].
    #[arg(long, value_parser = parse_level)]
    pub require: Option<Level>,
    /// A name for the report.
    #[arg(long)]
    pub name: Option<String>,
    /// Run the protocol inside TLS.
    #[arg(long)]
    pub tls: bool,
    /// TLS settings.
    #[command(flatten)]
    pub tls_opts: TlsArgs,
    /// Login settings.
    #[command(flatten)]
    pub login: LoginArgs,
    /// The probes' own settings.
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Report.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Runner.
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// `portproof tls`.
#[derive(Debug, Args)]
pub struct TlsCmdArgs {
    /// HOST:PORT ([v6]:PORT for IPv6).
    pub target: String,
    /// TLS settings.
    #[command(flatten)]
    pub tls_opts: TlsArgs,
    /// Report: the default table is the person's report; json gives the same as data.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Deadline of the whole diagnosis, like 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
}

/// TLS options of `check`.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// PEM file of CA certificates to trust instead of the system store.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain, for servers that ask for one.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Server name for SNI and verification (default: the host).
    #[arg(long)]
    pub sni: Option<String>,
    /// Go on when the certificate does not verify (still reported as a warning).
    #[arg(long)]
    pub insecure: bool,
    /// What the tls probe expects of mutual TLS: required, optional or none.
    #[arg(long, value_enum)]
    pub client_auth: Option<ClientAuthArg>,
    /// The tls probe also lists every TLS version and cipher suite the server accepts.
    #[arg(long)]
    pub scan: bool,
    /// ALPN protocols the tls probe offers, comma-separated (h2,http/1.1).
    #[arg(long, value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// Warn when a certificate expires within this many days [default: 30].
    #[arg(long, value_name = "DAYS")]
    pub expiry_warning: Option<u32>,
}

/// `--client-auth` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClientAuthArg {
    /// The server must demand a client certificate.
    Required,
    /// The server asks for one but lets clients in without.
    Optional,
    /// The server must not ask.
    None,
}

impl From<ClientAuthArg> for ClientAuth {
    fn from(a: ClientAuthArg) -> Self {
        match a {
            ClientAuthArg::Required => ClientAuth::Required,
            ClientAuthArg::Optional => ClientAuth::Optional,
            ClientAuthArg::None => ClientAuth::None,
        }
    }
}

/// Credentials of `check`, for probes that log in. The password never goes on the command
/// line, where `ps` and shell history would show it.
#[derive(Debug, Args, Default)]
pub struct LoginArgs {
    /// User name to log in with.
    #[arg(long, help = user_help())]
    pub user: Option<String>,
    /// Environment variable that holds the password (with --user, or a URL's user).
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// File that holds the password (with --user, or a URL's user).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Whether the password may cross in clear text (no TLS) to an address other than
    /// loopback: refuse or allow [default: refuse] (login.cleartext).
    #[arg(long, value_name = "POLICY")]
    pub cleartext: Option<CleartextArg>,
}

/// `--cleartext`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CleartextArg {
    /// Only to loopback.
    Refuse,
    /// To any address: the path is trusted.
    Allow,
}

/// `--user`'s help, naming the probes that log in, from the registry.
fn user_help() -> String {
    let names: Vec<&str> = portproof_probes::registry().iter().filter(|p| p.logs_in()).map(|p| p.name()).collect();
    format!("User name to log in with ({})", names.join(", "))
}

/// `portproof run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The manifest (YAML).
    pub manifest: PathBuf,
    /// Host for checks that name none (replaces defaults.host), or ROLE=HOST[,HOST...] for the
    /// checks of one role (repeatable).
    #[arg(long, value_name = "[ROLE=]HOST")]
    pub host: Vec<String>,
    /// Features, offset, configuration files, report and runner.
    #[command(flatten)]
    pub run: ManifestRunArgs,
}

/// `portproof profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The profile (see `portproof profiles`).
    pub name: String,
    /// The product's host for every role, or ROLE=HOST[,HOST...] to place one role (repeatable;
    /// several hosts run the role's checks on each) [default: 127.0.0.1 for every role].
    #[arg(long, value_name = "[ROLE=]HOST")]
    pub host: Vec<String>,
    /// List the profile's checks (role, feature, direction, port and where it came from),
    /// roles and features instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Features, offset, configuration files, report and runner.
    #[command(flatten)]
    pub run: ManifestRunArgs,
}

/// What running a whole manifest or profile takes besides the host.
#[derive(Debug, Args)]
pub struct ManifestRunArgs {
    /// Turn on these features (comma-separated or repeated): their checks run, and are
    /// required (`--list` names them).
    #[arg(long, value_name = "FEATURE", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Turn on every feature.
    #[arg(long, conflicts_with = "with")]
    pub all: bool,
    /// The product's own configuration file, for the ports it sets (gateway.xml, carbon.xml,
    /// ...; NAME=PATH for a file named otherwise; repeatable).
    #[arg(long, value_name = "FILE")]
    pub config: Vec<String>,
    /// Add N to every port that moves (negative to subtract).
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<i32>,
    /// PEM CA file trusted by TLS checks that name no CA of their own.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Report.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Runner.
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// Which ports of a profile `firewall` and `ports` take.
#[derive(Debug, Args)]
pub struct PortListArgs {
    /// The profile (see `portproof profiles`), or a manifest file.
    pub name: String,
    /// Add N to every port (negative to subtract).
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<i32>,
    /// Only the ports of the machine in this role (gateway, database, ...), for profiles whose
    /// ports are on several machines.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Also the ports of these features (comma-separated), for profiles that have features.
    #[arg(long, value_name = "F,..", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Every feature's ports.
    #[arg(long)]
    pub all: bool,
    /// The product's own configuration file for the ports it sets (`FILE`, or `NAME=FILE`
    /// where the profile reads several); repeatable.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<String>,
}

/// `portproof firewall`.
#[derive(Debug, Args)]
pub struct FirewallArgs {
    /// Profile, offset, role and features.
    #[command(flatten)]
    pub ports: PortListArgs,
    /// The firewall to write the rules for.
    #[arg(long, value_enum)]
    pub os: crate::firewall::Os,
    /// Write the rules to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `portproof ports`.
#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Profile, offset, role and features.
    #[command(flatten)]
    pub ports: PortListArgs,
    /// The product's own process: a word of its name or command line (java, ignition, ...).
    /// A port held by any other program is then a conflict (exit 1).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub process: Vec<String>,
    /// table or json.
    #[arg(long, short = 'f', value_enum, default_value_t = crate::ports::Format::Table)]
    pub format: crate::ports::Format,
}

/// `portproof codes`.
#[derive(Debug, Args)]
pub struct CodesArgs {
    /// Only the codes of this probe (its name, or the prefix of its codes: tls, tcp, auth).
    pub probe: Option<String>,
    /// Every table as Markdown (docs/codes.md is this).
    #[arg(long, conflicts_with = "probe")]
    pub markdown: bool,
}

/// `portproof probes`.
#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// The README's probe table, as Markdown (what each probe proves and its codes).
    #[arg(long)]
    pub markdown: bool,
}

/// `portproof explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The code, as a result spells it (`tls.cert_expired`, `amqp.closed.403`, `request.timeout`).
    pub code: String,
}

/// What `portproof schema` describes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// The manifest and profile format.
    Manifest,
    /// The `--format json` report (each `jsonl` line is one of its `results`).
    Report,
}

/// `portproof schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// `portproof testbed`.
#[derive(Debug, Args)]
pub struct TestbedArgs {
    /// Added to every port of the product (Ignition's 8088 becomes 8088 + offset).
    #[arg(long, default_value_t = gateway::DEFAULT_OFFSET)]
    pub offset: u16,
    /// The product to imitate: the name of its profile (ignition, pads4, wso2-mb).
    #[arg(long, default_value = "ignition")]
    pub product: String,
}

/// `portproof demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The profiles to demonstrate [default: every embedded profile].
    pub profiles: Vec<String>,
    /// Added to every port of the first product, 1000 more for each next one; the next free
    /// offset is used if these ports are taken.
    #[arg(long, default_value_t = gateway::DEFAULT_OFFSET)]
    pub offset: u16,
    /// Report.
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    manifest::parse_duration(s)
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

/// A configuration or usage problem: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl From<ManifestError> for UsageError {
    fn from(e: ManifestError) -> Self {
        UsageError(e.to_string())
    }
}

impl From<std::io::Error> for UsageError {
    fn from(e: std::io::Error) -> Self {
        UsageError(e.to_string())
    }
}

/// What to log: `PORTPROOF_LOG` when set (`debug`, `portproof_probes=trace`, ...), else
/// `RUST_LOG` (the ecosystem's name for the same), else errors only. Each probe names the libraries whose logs stay off ([`portproof_probes::Quiet`]):
/// some never log (they would print a password), others only when `PORTPROOF_LOG` names them.
fn log_filter() -> tracing_subscriber::EnvFilter {
    use portproof_probes::Quiet;
    let user = log_setting(std::env::var("PORTPROOF_LOG").ok(), std::env::var("RUST_LOG").ok());
    let quiet: Vec<Quiet> = portproof_probes::registry().iter().flat_map(|p| p.quiet_logs().iter().copied()).collect();
    let never = |d: &str| quiet.iter().any(|q| matches!(q, Quiet::Always(t) if d.starts_with(t)));
    let mut directives: Vec<String> =
        user.split(',').map(str::trim).filter(|d| !d.is_empty() && !never(d)).map(str::to_owned).collect();
    if directives.is_empty() {
        directives.push("error".into());
    }
    for q in &quiet {
        match q {
            Quiet::Always(t) => directives.push(format!("{t}=off")),
            Quiet::UnlessNamed(t, family) if !user.contains(family) => directives.push(format!("{t}=off")),
            Quiet::UnlessNamed(..) => {}
        }
    }
    tracing_subscriber::EnvFilter::new(directives.join(","))
}

/// Writes `text` to standard output. A reader that went away (`portproof schema manifest | head
/// -1`) is not an error: what it wanted it has, so the rest is dropped quietly, where `print!`
/// would panic and exit 101.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The log setting: `PORTPROOF_LOG` first (it is portproof's own, and may differ from what the
/// shell sets for other Rust programs), then `RUST_LOG`; an empty one counts as unset.
fn log_setting(portproof_log: Option<String>, rust_log: Option<String>) -> String {
    portproof_log.filter(|v| !v.trim().is_empty()).or(rust_log).unwrap_or_default()
}

/// Parses the command line, runs it, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // One style for every error, clap's and ours: `portproof: error: ...`.
            let text = e.render().to_string();
            eprint!(
                "portproof: {}",
                text.strip_prefix("error: ").map_or(text.clone(), |rest| format!("error: {rest}"))
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version, on stdout.
            let _ = e.print();
            return ExitCode::from(0);
        }
    };
    let _ = tracing_subscriber::fmt().with_env_filter(log_filter()).with_writer(std::io::stderr).try_init();
    portproof_probes::tls::install_default_provider();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(execute(cli));
    // A name lookup stuck in the system resolver cannot be cancelled; the report is written,
    // so do not wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(UsageError(msg)) => {
            eprintln!("portproof: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command; `Ok` carries the exit code (0 or 1).
pub async fn execute(cli: Cli) -> Result<u8, UsageError> {
    match cli.command {
        Command::Check(a) => check(*a).await,
        Command::Identify(a) => crate::identify::command(a).await,
        Command::Run(a) => {
            let (m, src) = Manifest::load(&a.manifest)?;
            let origin = a.manifest.display().to_string();
            let base = a.manifest.parent().map(|p| if p.as_os_str().is_empty() { ".".into() } else { p.to_owned() });
            let o = overrides(&m, &a.host, &a.run, base)?;
            let title = m.product.clone().or(m.description.clone()).unwrap_or_else(|| origin.clone());
            let title = format!("{title}{}", features_said(&m, &o));
            run_manifest(&m, &src, &origin, title, &a.run, o).await
        }
        Command::Profile(a) => {
            let p = profile::find(&a.name).ok_or_else(|| {
                UsageError(format!("no profile {:?}; the profiles are: {}", a.name, profile::names().join(", ")))
            })?;
            let m = p.manifest()?;
            // Today's default: every role on this machine, unless --host places any.
            let hosts = if a.host.is_empty() { vec!["127.0.0.1".to_owned()] } else { a.host.clone() };
            let o = overrides(&m, &hosts, &a.run, None)?;
            if a.list {
                let entries = profile::port_model(&m, p.yaml, &p.origin(), &o)?;
                let text = match a.run.output.format.unwrap_or(Format::Table) {
                    Format::Table => profile::render_list(p.name, &m, &entries, &o),
                    Format::Json => {
                        serde_json::to_string_pretty(&profile::list_json(p.name, &m, &entries, &o)).expect("serializes")
                            + "\n"
                    }
                    other => {
                        return Err(UsageError(format!(
                            "--list is written as table or json, not {}",
                            other.to_possible_value().map_or_else(String::new, |v| v.get_name().to_owned())
                        )));
                    }
                };
                match &a.run.output.output {
                    Some(path) => std::fs::write(path, text)
                        .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?,
                    None => emit(&text),
                }
                return Ok(0);
            }
            let title = format!("{}{}", profile_title(&m, &hosts.join(" "), o.offset), features_said(&m, &o));
            run_manifest(&m, p.yaml, &p.origin(), title, &a.run, o).await
        }
        Command::Profiles => {
            let mut out = String::from("PROFILE    CHECKS  PRODUCT\n");
            for p in profile::PROFILES {
                let m = p.manifest()?;
                out.push_str(&format!("{:<10} {:>6}  {}\n", p.name, m.checks.len(), m.product.unwrap_or_default()));
            }
            emit(&out);
            Ok(0)
        }
        Command::Probes(ProbesArgs { markdown: true }) => {
            print!("{}", crate::codes::render_probes_markdown());
            Ok(0)
        }
        Command::Probes(ProbesArgs { markdown: false }) => {
            let mut out = String::from("PROBE         BEST      OVER         DEFAULT PORTS                SUMMARY\n");
            for p in portproof_probes::registry() {
                let ports = p.default_ports().iter().map(u16::to_string).collect::<Vec<_>>().join(",");
                let over = p.transports().iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                out.push_str(&format!(
                    "{:<13} {:<9} {:<12} {:<28} {}\n",
                    p.name(),
                    p.best_level(),
                    over,
                    ports,
                    p.summary()
                ));
                if let Some(alias) = p.tls_alias() {
                    out.push_str(&format!(
                        "{alias:<13} {:<9} {:<12} {:<28} {} over TLS\n",
                        p.best_level(),
                        "tls",
                        "",
                        p.name()
                    ));
                }
            }
            emit(&out);
            Ok(0)
        }
        Command::Schema(a) => {
            match a.kind {
                SchemaKind::Manifest => {
                    emit(&(serde_json::to_string_pretty(&manifest::schema()).expect("schema serializes") + "\n"))
                }
                SchemaKind::Report => {
                    emit(&(serde_json::to_string_pretty(&report::json::schema()).expect("schema serializes") + "\n"))
                }
            }
            Ok(0)
        }
        Command::Codes(a) => crate::codes::list(a.probe.as_deref(), a.markdown).map_err(UsageError),
        Command::Explain(a) => crate::codes::explain(&a.code).map_err(UsageError),
        Command::Tls(a) => tls_command(*a).await,
        Command::Testbed(a) => testbed(a).await,
        Command::Demo(a) => demo(a).await,
        Command::Firewall(a) => firewall_command(&a),
        Command::Ports(a) => ports_command(&a),
        Command::Completions(a) => {
            emit(&crate::completions::script(a.shell));
            Ok(0)
        }
        Command::Man => {
            emit(&crate::man::page());
            Ok(0)
        }
    }
}

/// The ports `firewall` and `ports` act on: the profile's, for the role and features asked.
fn port_list(a: &PortListArgs) -> Result<(crate::portlist::Listing, crate::portlist::Selected), UsageError> {
    let sel = crate::portlist::Selection {
        offset: a.offset,
        with: a.with.iter().map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect(),
        all: a.all,
        config: a.config.clone(),
    };
    let listing = crate::portlist::load(&a.name, &sel).map_err(UsageError)?;
    let selected = crate::portlist::select(&listing, a.role.as_deref()).map_err(UsageError)?;
    Ok((listing, selected))
}

/// `portproof firewall`: the rules, on standard output or into `-o FILE`.
fn firewall_command(a: &FirewallArgs) -> Result<u8, UsageError> {
    let (listing, selected) = port_list(&a.ports)?;
    let text = crate::firewall::render(&crate::firewall::plan(&listing, &selected), a.os);
    match &a.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?
        }
        None => emit(&text),
    }
    Ok(0)
}

/// `portproof ports`: 1 when a port is held by another program than the product, or a
/// local-only port is reachable from other hosts.
fn ports_command(a: &PortsArgs) -> Result<u8, UsageError> {
    let (listing, selected) = port_list(&a.ports)?;
    let machine = crate::ports::Proc::here().map_err(UsageError)?;
    let report = crate::ports::survey(&listing, &selected, &a.process, &machine);
    emit(&crate::ports::render(&report, a.format));
    Ok(u8::from(report.has_problem()))
}

/// The command line's hosts, features, offset and configuration files, checked: its own
/// mistakes name the flag, not the manifest line they would otherwise surface at.
fn overrides(
    m: &Manifest,
    hosts: &[String],
    a: &ManifestRunArgs,
    base: Option<PathBuf>,
) -> Result<Overrides, UsageError> {
    let mut o = Overrides {
        offset: a.offset,
        with: a.with.iter().map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect(),
        all: a.all,
        timeout: a.runner.timeout,
        ca: a.ca.clone(),
        base,
        ..Overrides::default()
    };
    for h in hosts {
        match h.split_once('=') {
            Some((role, list)) => {
                let list: Vec<String> = list.split(',').map(str::trim).map(str::to_owned).collect();
                if list.iter().any(String::is_empty) {
                    return Err(UsageError(format!("--host {h}: give ROLE=HOST[,HOST...], with no empty host")));
                }
                if let Some(twice) = list.iter().enumerate().find(|(i, x)| list[..*i].contains(x)).map(|(_, x)| x) {
                    return Err(UsageError(format!("--host {h}: {twice} is given twice for {role}")));
                }
                if o.role_hosts.iter().any(|(r, _)| r == role) {
                    return Err(UsageError(format!(
                        "--host {role}=...: given twice; list its hosts in one, comma-separated"
                    )));
                }
                o.role_hosts.push((role.trim().to_owned(), list));
            }
            None => {
                if h.contains(',') {
                    return Err(UsageError(format!(
                        "--host {h}: a bare --host is one host for every role; place several with --host ROLE=HOST,HOST"
                    )));
                }
                manifest::check_host(h).map_err(|e| UsageError(format!("--host: {e}")))?;
                if let Some(first) = &o.host {
                    return Err(UsageError(format!(
                        "--host {first} and --host {h}: one host for every role; place roles with --host ROLE=HOST"
                    )));
                }
                o.host = Some(h.clone());
            }
        }
    }
    if let Some(ca) = &a.ca {
        let opts = TlsOptions { ca: Some(ca.clone()), ..TlsOptions::default() };
        portproof_probes::tls::validate(&opts)
            .map_err(|f| UsageError(format!("--ca {}: {}", ca.display(), f.message)))?;
    }
    for c in &a.config {
        o.config.push(profile::read_config(m, c).map_err(UsageError)?);
    }
    Ok(o)
}

/// Which features a run turned on and left off, for its title.
fn features_said(m: &Manifest, o: &Overrides) -> String {
    if m.features.is_empty() {
        return String::new();
    }
    let (on, off): (Vec<&String>, Vec<&String>) = m.features.keys().partition(|f| o.all || o.with.contains(f));
    let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    match (on.is_empty(), off.is_empty()) {
        (_, true) => " — every feature on".to_owned(),
        (true, false) => format!(" — features off: {} (--with F)", join(&off)),
        (false, false) => format!(" — with {}; off: {}", join(&on), join(&off)),
    }
}

/// Plans a manifest or profile with the command line's overrides, then runs it.
async fn run_manifest(
    m: &Manifest,
    src: &str,
    origin: &str,
    title: String,
    a: &ManifestRunArgs,
    o: Overrides,
) -> Result<u8, UsageError> {
    let checks = manifest::plan(m, src, origin, &o)?;
    run_and_report(checks, Some(title), &a.output, &a.runner).await
}

fn profile_title(m: &Manifest, host: &str, offset: Option<i32>) -> String {
    let product = m.product.clone().unwrap_or_else(|| "profile".into());
    match offset {
        Some(o) if o != 0 => format!("{product} on {host} (ports {o:+})"),
        _ => format!("{product} on {host}"),
    }
}

/// Splits `HOST:PORT`, `[v6]:PORT` or a URL into host, port, and what a URL implies.
struct Parsed {
    host: String,
    port: u16,
    /// The `expect` a URL's scheme names (`https`), from the probe that owns the scheme.
    expect: Option<String>,
    /// Settings the URL implies (its path), as `(key, value)` of that probe's section.
    implied: Vec<(&'static str, String)>,
    /// Whether the URL's scheme means TLS.
    tls: bool,
    /// The user and password of the URL's user information (`http://user:pw@host/`).
    user: Option<(String, Option<portproof_probes::Secret>)>,
    /// The target as a report may show it: the URL without its user information.
    shown: String,
}

fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn parse_target(s: &str) -> Result<Parsed, UsageError> {
    if s.contains("://") {
        let mut url =
            url::Url::parse(s).map_err(|e| UsageError(format!("{:?} is not a valid URL: {e}", redacted(s))))?;
        // User information becomes the login and leaves the URL: it is never shown.
        let user = (!url.username().is_empty()).then(|| {
            (percent_decoded(url.username()), url.password().map(|p| portproof_probes::Secret::new(percent_decoded(p))))
        });
        let shown = if user.is_some() || url.password().is_some() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        } else {
            s.to_owned()
        };
        let s = shown.as_str();
        let Some((probe, scheme)) = portproof_probes::resolve_scheme(url.scheme()) else {
            let known: Vec<String> = portproof_probes::registry()
                .iter()
                .flat_map(|p| p.url_schemes().iter().map(|s| format!("{}://", s.scheme)))
                .collect();
            return Err(UsageError(format!("{s:?}: URLs must be {}, not {}://", known.join(" or "), url.scheme())));
        };
        let host = url.host_str().ok_or_else(|| UsageError(format!("{s:?} has no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port().unwrap_or(scheme.default_port);
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let expect = match (scheme.tls, probe.tls_alias()) {
            (true, Some(alias)) => alias.to_owned(),
            _ => probe.name().to_owned(),
        };
        let implied = scheme.path_key.map(|k| vec![(k, path)]).unwrap_or_default();
        return Ok(Parsed { host, port, expect: Some(expect), implied, tls: scheme.tls, user, shown: shown.clone() });
    }
    let bad = || UsageError(format!("{s:?} is not HOST:PORT ([v6]:PORT for IPv6) or a URL"));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
        if h.contains(':') {
            return Err(UsageError(format!("{s:?}: write an IPv6 address in brackets, like [::1]:8088")));
        }
        (h, p)
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| UsageError(format!("{s:?}: {port:?} is not a port (1-65535)")))?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Parsed {
        host: host.to_owned(),
        port,
        expect: None,
        implied: Vec::new(),
        tls: false,
        user: None,
        shown: s.to_owned(),
    })
}

/// `s` with the user information of a URL cut out, for an error about a URL that did not parse.
fn redacted(s: &str) -> String {
    match s.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => s.to_owned(),
            }
        }
        None => s.to_owned(),
    }
}

fn check_spec(a: &CheckArgs, p: &Parsed) -> Result<RawCheck, UsageError> {
    let expect = match (&a.expect, &p.expect) {
        // `check https://H/ -e http` says two things: which one is meant is not ours to guess.
        (Some(e), Some(from_url)) if e != from_url => {
            let same = portproof_probes::resolve_expect(e).zip(portproof_probes::resolve_expect(from_url)).is_some_and(
                |((a_probe, a_tls), (u_probe, _))| a_probe.name() == u_probe.name() && (a_tls || a.tls) == p.tls,
            );
            if !same {
                return Err(UsageError(format!(
                    "{} names {from_url}, and --expect says {e}: give one of them (or make them agree)",
                    p.shown
                )));
            }
            from_url.clone()
        }
        (Some(e), _) => e.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => {
            return Err(UsageError(format!(
                "say which protocol the port must speak: --expect PROTO (one of {})",
                portproof_probes::expect_names().join(", ")
            )));
        }
    };
    let sections = match portproof_probes::resolve_expect(&expect) {
        // An unknown protocol is refused by the manifest's own check, with the list of names.
        None => Vec::new(),
        Some((probe, _)) => {
            let implied = if p.expect.as_deref() == Some(expect.as_str()) { p.implied.as_slice() } else { &[] };
            a.probe.section_for(probe, &expect, implied).map_err(UsageError)?.into_iter().collect()
        }
    };
    let t = &a.tls_opts;
    let tls_given = t.ca.is_some()
        || t.client_cert.is_some()
        || t.sni.is_some()
        || t.insecure
        || t.client_auth.is_some()
        || t.scan
        || !t.alpn.is_empty()
        || t.expiry_warning.is_some();
    Ok(RawCheck {
        name: a.name.clone().unwrap_or_else(|| p.shown.clone()),
        host: Some(p.host.clone()),
        port: p.port,
        expect: expect.clone(),
        over: a.tls.then_some(Over::Tls),
        require: a.require,
        timeout: None,
        optional: false,
        planned: None,
        note: None,
        tls: tls_given.then(|| TlsOptions {
            sni: t.sni.clone(),
            ca: t.ca.clone(),
            client_cert: t.client_cert.clone(),
            client_key: t.client_key.clone(),
            insecure: t.insecure,
            client_auth: t.client_auth.map(Into::into),
            scan: t.scan,
            alpn: t.alpn.clone(),
            expiry_warning_days: t.expiry_warning,
        }),
        login: login(a, p)?,
        sections,
        ..RawCheck::default()
    })
}

/// The login of `check`: the flags, or the URL's user information (`http://user:pw@host/`,
/// used under the same policy as any password, never shown).
fn login(a: &CheckArgs, p: &Parsed) -> Result<Option<Login>, UsageError> {
    let cleartext = match a.login.cleartext {
        Some(CleartextArg::Allow) => portproof_probes::Cleartext::Allow,
        Some(CleartextArg::Refuse) | None => portproof_probes::Cleartext::Refuse,
    };
    let (user, url_password) = match (&a.login.user, &p.user) {
        (Some(_), Some(_)) => {
            return Err(UsageError(format!("{} carries a user, and --user gives another: give one", p.shown)));
        }
        (Some(u), None) => (u.clone(), None),
        (None, Some((u, pw))) => {
            if pw.is_some() && (a.login.password_env.is_some() || a.login.password_file.is_some()) {
                return Err(UsageError(format!(
                    "{} carries a password; give no --password-env or --password-file",
                    p.shown
                )));
            }
            (u.clone(), pw.clone())
        }
        (None, None) => {
            if a.login.password_env.is_some() || a.login.password_file.is_some() {
                return Err(UsageError("a password needs a user: give --user (or user@ in the URL)".into()));
            }
            if a.login.cleartext.is_some() {
                return Err(UsageError("--cleartext says how a password may travel: give a login too (--user)".into()));
            }
            return Ok(None);
        }
    };
    Ok(Some(Login {
        user,
        password_env: a.login.password_env.clone(),
        password_file: a.login.password_file.clone(),
        cleartext,
        url_password,
    }))
}

async fn check(mut a: CheckArgs) -> Result<u8, UsageError> {
    let parsed = parse_target(&a.target)?;
    if a.expect.is_none() && parsed.expect.is_none() {
        let (expect, over_tls) = crate::identify::for_check(&parsed.host, parsed.port, a.runner.timeout).await?;
        a.expect = Some(expect);
        a.tls |= over_tls;
    }
    let raw = check_spec(&a, &parsed)?;
    let spec = CheckSpec::try_from(raw).map_err(UsageError)?;
    let m = Manifest::one(spec);
    let o = Overrides { timeout: a.runner.timeout, ..Default::default() };
    let checks = manifest::plan(&m, "", "<command line>", &o).map_err(command_line_error)?;
    run_and_report(checks, None, &a.output, &a.runner).await
}

/// Runs checks with Ctrl-C handling and writes the report; returns 0 or 1.
pub async fn run_and_report(
    checks: Vec<Check>,
    title: Option<String>,
    out: &OutputArgs,
    r: &RunnerArgs,
) -> Result<u8, UsageError> {
    run_and_render(checks, title, out, r, report::render).await
}

/// [`run_and_report`] with the command's own rendering of the finished report (`tls` shows its
/// diagnosis as the table); every command goes through here, so every format is written on
/// Ctrl-C too.
async fn run_and_render(
    checks: Vec<Check>,
    title: Option<String>,
    out: &OutputArgs,
    r: &RunnerArgs,
    render: impl Fn(&Report, Format, bool) -> String,
) -> Result<u8, UsageError> {
    let format = out.format.unwrap_or(Format::Table);
    let mut sink: Box<dyn Write + Send> = match &out.output {
        Some(path) => Box::new(
            std::fs::File::create(path).map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let color = out.color(format);
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    // Registered here, before any check starts, rather than when a spawned task first polls
    // `ctrl_c()`: a Ctrl-C in between would kill the process with no report at all.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| UsageError(format!("cannot watch for Ctrl-C: {e}")))?;
    let signal = tokio::spawn(async move {
        if interrupt.recv().await.is_some() {
            eprintln!("portproof: interrupted; reporting what finished");
            on_signal.cancel();
        }
    });
    let opts = RunOptions {
        concurrency: usize::from(r.concurrency),
        per_host: usize::from(r.per_host),
        wait: r.wait,
        ..RunOptions::default()
    };
    let mut write_error = None;
    let report = runner::run(checks, &opts, cancel, title, |res| {
        if format == Format::Jsonl {
            let line = report::jsonl::line(res);
            if let Err(e) = writeln!(sink, "{line}").and_then(|_| sink.flush()) {
                write_error.get_or_insert(e);
            }
        }
    })
    .await;
    signal.abort();
    if format != Format::Jsonl {
        let text = render(&report, format, color);
        if let Err(e) = sink.write_all(text.as_bytes()).and_then(|_| sink.flush()) {
            write_error.get_or_insert(e);
        }
    }
    if let Some(e) = write_error
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(UsageError(format!("writing the report: {e}")));
    }
    Ok(exit_code(&report))
}

/// A planning error of the one check the command line describes: there is no file, line or
/// `checks[0]` to point at, only the setting.
fn command_line_error(e: ManifestError) -> UsageError {
    UsageError(e.message.strip_prefix("checks[0].").unwrap_or(&e.message).to_owned())
}

/// 0 when every required check passed, else 1.
pub fn exit_code(report: &Report) -> u8 {
    if report.summary.passed { 0 } else { 1 }
}

async fn tls_command(a: TlsCmdArgs) -> Result<u8, UsageError> {
    let mut args = CheckArgs {
        target: a.target,
        expect: Some("tls".into()),
        // A diagnosis passes only on a verdict with nothing wrong: a verified chain and client
        // authentication as stated.
        require: Some(Level::Healthy),
        name: None,
        tls: false,
        tls_opts: a.tls_opts,
        login: LoginArgs::default(),
        probe: ProbeArgs::default(),
        output: a.output.clone(),
        runner: RunnerArgs { timeout: Some(a.timeout), concurrency: 1, per_host: 1, wait: None },
    };
    args.tls_opts.scan = true;
    let parsed = parse_target(&args.target)?;
    let spec = CheckSpec::try_from(check_spec(&args, &parsed)?).map_err(UsageError)?;
    let m = Manifest::one(spec);
    let o = Overrides { timeout: Some(a.timeout), ..Default::default() };
    let checks = manifest::plan(&m, "", "<command line>", &o).map_err(command_line_error)?;
    let render = |report: &Report, format: Format, color: bool| match (format, report.results.first()) {
        (Format::Table, Some(r)) => report::tls::render(r, color),
        _ => report::render(report, format, color),
    };
    run_and_render(checks, None, &a.output, &args.runner, render).await
}

fn product(name: &str) -> Result<Product, UsageError> {
    Product::from_profile(name).ok_or_else(|| {
        let names: Vec<_> = Product::ALL.iter().map(|p| p.profile()).collect();
        UsageError(format!("no testbed for {name:?}: the testbed imitates {}", names.join(", ")))
    })
}

/// Starts `product`'s site at `offset`, or at the next free offset (steps of 1000, each kept
/// below the ephemeral range and off real services' ports) when a port is taken by another demo
/// or a real service.
async fn start_site(product: Product, offset: u16) -> Result<Gateway, UsageError> {
    let mut last = None;
    let steps = (0..16u16).map(|k| offset.saturating_add(k * 1000));
    for at in steps.filter(|&at| at == offset || gateway::offset_fits(product, at).is_ok()).take(8) {
        match Gateway::start_product(product, IpAddr::V4(Ipv4Addr::LOCALHOST), at).await {
            Ok(g) => {
                if at != offset {
                    eprintln!(
                        "portproof: {} ports at offset {offset} are taken; its testbed uses {at}",
                        product.label()
                    );
                }
                return Ok(g);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(UsageError(format!("no free ports for the testbed: {}", last.expect("tried at least once"))))
}

async fn testbed(a: TestbedArgs) -> Result<u8, UsageError> {
    let product = product(&a.product)?;
    let gw = Gateway::start_product(product, IpAddr::V4(Ipv4Addr::LOCALHOST), a.offset).await?;
    println!("portproof testbed: a {}-like site on {} (its ports + {})", product.label(), gw.ip, gw.offset);
    for p in &gw.ports {
        println!("  {:>5} -> {:<15} {}", p.base, p.server.addr, p.role);
    }
    portproof_testbeds::sweep_stale(&std::env::temp_dir(), "portproof-testbed-");
    let dir = std::env::temp_dir().join(format!("portproof-testbed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let files = gw.pki.write_to(&dir)?;
    println!(
        "  CA: {}  client identity: {} {}",
        files.ca.display(),
        files.client_cert.display(),
        files.client_key.display()
    );
    let with = product.features().join(",");
    let with = if with.is_empty() { String::new() } else { format!(" --with {with}") };
    println!(
        "Check it with: portproof profile {} --host {} --offset {}{with} --ca {}",
        product.profile(),
        gw.ip,
        gw.offset,
        files.ca.display()
    );
    println!("Ctrl-C stops it.");
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

async fn demo(a: DemoArgs) -> Result<u8, UsageError> {
    let products = if a.profiles.is_empty() {
        Product::ALL.to_vec()
    } else {
        a.profiles.iter().map(|n| product(n)).collect::<Result<Vec<_>, _>>()?
    };
    portproof_testbeds::sweep_stale(&std::env::temp_dir(), "portproof-demo-");
    let dir = std::env::temp_dir().join(format!("portproof-demo-{}", std::process::id()));
    let result = demo_in(&a, &products, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn demo_in(a: &DemoArgs, products: &[Product], dir: &std::path::Path) -> Result<u8, UsageError> {
    let mut sites = Vec::new();
    let mut checks = Vec::new();
    for (i, &product) in products.iter().enumerate() {
        let step = u16::try_from(i).unwrap_or(u16::MAX).saturating_mul(1000);
        let gw = start_site(product, a.offset.saturating_add(step)).await?;
        // Each site's TLS ports are signed by a CA made at start-up: trust it, as a site would
        // trust its own CA.
        let own = dir.join(product.profile());
        std::fs::create_dir_all(&own)?;
        let files = gw.pki.write_to(&own)?;
        let p = profile::find(product.profile()).expect("every testbed product has an embedded profile");
        let m = p.manifest()?;
        // The features the testbed serves: the demo checks every port it has.
        let o = Overrides {
            host: Some(gw.ip.to_string()),
            offset: Some(i32::from(gw.offset)),
            with: product.features().iter().map(|f| (*f).to_owned()).collect(),
            ca: Some(files.ca),
            ..Overrides::default()
        };
        let mut planned = manifest::plan(&m, p.yaml, &p.origin(), &o)?;
        if products.len() > 1 {
            for c in &mut planned {
                c.name = format!("{}: {}", product.label(), c.name);
                // Each product's groups are its own, though all sites share 127.0.0.1.
                c.any_of = c.any_of.take().map(|g| format!("{}: {g}", product.label()));
            }
        }
        checks.extend(planned);
        sites.push((product, gw));
    }
    let title = match sites.as_slice() {
        [(product, gw)] => {
            let m = profile::find(product.profile()).expect("embedded").manifest()?;
            let with = product.features().join(",");
            let with = if with.is_empty() { String::new() } else { format!(" with {with}") };
            format!(
                "{}{with} — demo against the in-process testbed",
                profile_title(&m, &gw.ip.to_string(), Some(i32::from(gw.offset)))
            )
        }
        _ => format!(
            "portproof demo — {} on 127.0.0.1, each against its in-process testbed",
            sites.iter().map(|(p, gw)| format!("{} (ports +{})", p.label(), gw.offset)).collect::<Vec<_>>().join(", ")
        ),
    };
    let runner = RunnerArgs { timeout: None, concurrency: 32, per_host: 6, wait: None };
    run_and_report(checks, Some(title), &a.output, &runner).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_in_every_form() {
        let p = parse_target("10.0.0.5:8088").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.expect.as_deref()), ("10.0.0.5", 8088, None));
        let p = parse_target("[::1]:8043").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8043));
        let p = parse_target("https://gw.example/StatusPing?x=1").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.expect.as_deref()), ("gw.example", 443, Some("https")));
        assert_eq!(p.implied, [("path", "/StatusPing?x=1".to_owned())]);
        let p = parse_target("http://[::1]:8088/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8088));
        for bad in ["gw.example", "gw:0", "gw:http", "::1:80", ":80", "ftp://x/", "[::1]80"] {
            assert!(parse_target(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn json_field_values_are_json_when_they_parse() {
        let a = Cli::try_parse_from(["portproof", "check", "h:1", "--expect", "http", "--json-field", "/n=3"]).unwrap();
        let Command::Check(a) = a.command else { panic!("parsed as check") };
        let raw = check_spec(&a, &parse_target(&a.target).unwrap()).unwrap();
        assert_eq!(raw.sections[0].1.to_json()["json"]["equals"], serde_json::json!(3));
        let a =
            Cli::try_parse_from(["portproof", "check", "h:1", "-e", "http", "--json-field", "state=RUNNING"]).unwrap();
        let Command::Check(a) = a.command else { panic!("parsed as check") };
        let raw = check_spec(&a, &parse_target(&a.target).unwrap()).unwrap();
        assert_eq!(raw.sections[0].1.to_json()["json"]["equals"], serde_json::json!("RUNNING"));
    }

    #[test]
    fn rust_log_is_read_when_portproof_log_is_not_set() {
        assert_eq!(log_setting(None, Some("debug".into())), "debug");
        assert_eq!(log_setting(Some("info".into()), Some("debug".into())), "info");
        assert_eq!(log_setting(Some(" ".into()), Some("debug".into())), "debug");
        assert_eq!(log_setting(None, None), "");
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
