//! Relay configuration (issue 4): built-in defaults, then a TOML file, then
//! `ASSENT_RELAY_*` environment variables, then command-line flags.
//!
//! Every value is untrusted and checked here, once: a bad one is refused with
//! its key, where it came from and what is allowed, so the server never starts
//! half-configured. Carries the lockout (R6), new-location (R8) and intrusion
//! detection (R14) limits, and keeps the metrics endpoint on loopback unless
//! the operator says otherwise.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use assent_proto::lockout::LockoutPolicy;
use serde::Deserialize;
use zeroize::Zeroizing;

mod layers;
#[cfg(test)]
mod tests;
mod validate;

pub use validate::is_loopback_host;

/// The example configuration shipped with the relay: every key, commented.
pub fn example_toml() -> &'static str {
    include_str!("config/example.toml")
}

/// Environment variable that holds the 256-bit data key itself (64 hex
/// digits), taking the place of `data_key_file`.
pub const DATA_KEY_ENV: &str = "ASSENT_RELAY_DATA_KEY";

/// An environment variable the relay reads, for `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// The configuration key it overrides, or "" for none.
    pub key: &'static str,
    pub help: &'static str,
}

/// Every environment variable [`RelayConfig::load`] reads. An empty value
/// counts as unset.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "ASSENT_RELAY_LISTEN",
        key: "listen",
        help: "QUIC listen address, e.g. [::]:443",
    },
    EnvVar {
        name: "ASSENT_RELAY_DATA_DIR",
        key: "data_dir",
        help: "directory for the state store, keys and generated certificate",
    },
    EnvVar {
        name: "ASSENT_RELAY_DATA_KEY_FILE",
        key: "data_key_file",
        help: "file holding the 256-bit data key (default <data_dir>/data.key)",
    },
    EnvVar {
        name: DATA_KEY_ENV,
        key: "",
        help: "the data key itself as 64 hex digits, instead of data_key_file",
    },
    EnvVar {
        name: "ASSENT_RELAY_OPERATOR_KEY",
        key: "operator_key",
        help: "operator allowlist signing key (default <data_dir>/operator.key)",
    },
    EnvVar {
        name: "ASSENT_RELAY_TLS_CERT",
        key: "tls.cert",
        help: "PEM certificate chain (with ASSENT_RELAY_TLS_KEY; unset: self-signed)",
    },
    EnvVar {
        name: "ASSENT_RELAY_TLS_KEY",
        key: "tls.key",
        help: "PEM private key for tls.cert",
    },
    EnvVar {
        name: "ASSENT_RELAY_METRICS_LISTEN",
        key: "metrics.listen",
        help: "Prometheus endpoint address (loopback unless metrics.allow_remote)",
    },
    EnvVar {
        name: "ASSENT_RELAY_LOG_FORMAT",
        key: "log.format",
        help: "human or json",
    },
    EnvVar {
        name: "ASSENT_RELAY_LOG_LEVEL",
        key: "log.level",
        help: "error, warn, info, debug, trace, or a filter like info,assent_relay=debug",
    },
    EnvVar {
        name: "ASSENT_RELAY_SHUTDOWN_GRACE_SECS",
        key: "shutdown_grace_secs",
        help: "seconds sessions may take to finish on shutdown (0 to 3600)",
    },
];

/// The environment variable list formatted for clap's `after_help`.
pub fn env_help() -> String {
    let width = ENV_VARS.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out = String::from("Environment (overrides the config file; flags override it):\n");
    for var in ENV_VARS {
        out.push_str(&format!("  {:width$}  {}\n", var.name, var.help));
    }
    out
}

/// Values from command-line flags, the top layer. main.rs fills this from clap;
/// errors name them by these flags: `--listen`, `--data-dir`,
/// `--metrics-listen`, `--log-format`, `--log-level`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
}

/// The whole relay configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Shown in the e-mails the relay sends.
    pub name: String,
    #[serde(deserialize_with = "layers::socket_addr")]
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Unset: `<data_dir>/data.key`; see [`RelayConfig::data_key_source`].
    pub data_key_file: Option<PathBuf>,
    /// Unset: `<data_dir>/operator.key`.
    pub operator_key: Option<PathBuf>,
    pub shutdown_grace_secs: u64,
    pub tls: TlsConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub lockout: LockoutConfig,
    pub ids: IdsConfig,
    pub location: LocationConfig,
    pub notifier: NotifierConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: "Assent relay".to_owned(),
            listen: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 443)),
            data_dir: PathBuf::from("/var/lib/assent-relay"),
            data_key_file: None,
            operator_key: None,
            shutdown_grace_secs: 30,
            tls: TlsConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            lockout: LockoutConfig::default(),
            ids: IdsConfig::default(),
            location: LocationConfig::default(),
            notifier: NotifierConfig::default(),
        }
    }
}

/// The relay's own certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Where the relay's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Operator-supplied PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated on first start and kept at these paths (key 0600).
    SelfSigned { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "layers::socket_addr")]
    pub listen: SocketAddr,
    /// Must be true for a non-loopback `listen`.
    pub allow_remote: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9443)),
            allow_remote: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err("use human or json".to_owned()),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Human => "human",
            Self::Json => "json",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// Exponential lockout (R6), in config units; see [`RelayConfig::lockout_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    pub base_wait_secs: u64,
    pub max_wait_secs: u64,
    pub burn_after: u32,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        let policy = LockoutPolicy::default();
        Self {
            base_wait_secs: policy.base_wait.as_secs(),
            max_wait_secs: policy.max_wait.as_secs(),
            burn_after: policy.burn_after,
        }
    }
}

/// Intrusion detection limits (R14). Going over any of them raises an IDS
/// event (audited); only an engineer identity that scans or guesses is
/// blocked, for `block_secs`. Addresses are throttled, never blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    /// Connection floods (reported; throttled by the budgets below).
    pub connections_per_source_per_minute: u32,
    /// Password guessing, across any number of hosts: bans an engineer
    /// identity; failures without an identity are reported per address.
    pub handshake_failures_per_source_per_hour: u32,
    /// Host-ID scanning by one engineer identity: requests for host IDs
    /// with no open support request. Bans that identity.
    pub unknown_host_lookups_per_source_per_hour: u32,
    /// Oversized or malformed frames from one source within an hour.
    pub max_frame_errors: u32,
    pub block_secs: u64,
    /// Bound on the detector's memory: sources tracked at once.
    pub max_tracked_sources: u32,
    /// Handshakes one client socket (address and port) may start per second
    /// before login (0: no per-socket bucket), and its burst.
    pub handshakes_per_client_socket_per_second: u32,
    pub handshake_burst_per_client_socket: u32,
    /// Handshakes one address may start per second before login, all its
    /// sockets together (0: no per-address bucket), and its burst.
    pub handshakes_per_source_per_second: u32,
    pub handshake_burst_per_source: u32,
    /// Connections accepted and not yet logged in: in total, and per address.
    pub max_unauthenticated_connections: u32,
    pub max_unauthenticated_per_source: u32,
    /// Above this many unauthenticated connections, addresses QUIC has not
    /// validated get a stateless Retry first.
    pub retry_above_unauthenticated: u32,
}

impl Default for IdsConfig {
    fn default() -> Self {
        Self {
            connections_per_source_per_minute: 120,
            handshake_failures_per_source_per_hour: 20,
            unknown_host_lookups_per_source_per_hour: 20,
            max_frame_errors: 10,
            block_secs: 900,
            max_tracked_sources: 100_000,
            handshakes_per_client_socket_per_second: 2,
            handshake_burst_per_client_socket: 20,
            handshakes_per_source_per_second: 50,
            handshake_burst_per_source: 500,
            max_unauthenticated_connections: 4096,
            max_unauthenticated_per_source: 512,
            retry_above_unauthenticated: 256,
        }
    }
}

impl IdsConfig {
    pub fn block_duration(&self) -> Duration {
        Duration::from_secs(self.block_secs)
    }

    /// The admission budgets these keys describe.
    pub fn admission(&self) -> crate::intrusion::AdmissionLimits {
        use crate::intrusion::{AdmissionLimits, BucketRate};
        AdmissionLimits {
            per_socket: BucketRate {
                per_second: self.handshakes_per_client_socket_per_second,
                burst: self.handshake_burst_per_client_socket,
            },
            per_address: BucketRate {
                per_second: self.handshakes_per_source_per_second,
                burst: self.handshake_burst_per_source,
            },
            max_unauthenticated: self.max_unauthenticated_connections as usize,
            max_unauthenticated_per_address: self.max_unauthenticated_per_source as usize,
            retry_above: self.retry_above_unauthenticated as usize,
            max_tracked: self.max_tracked_sources as usize,
        }
    }
}

/// New-location confirmation (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocationConfig {
    pub code_ttl_secs: u64,
    pub max_codes_per_hour: u32,
    pub network_prefix_v4: u8,
    pub network_prefix_v6: u8,
}

impl Default for LocationConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 600,
            max_codes_per_hour: 5,
            network_prefix_v4: 24,
            network_prefix_v6: 48,
        }
    }
}

impl LocationConfig {
    pub fn code_ttl(&self) -> Duration {
        Duration::from_secs(self.code_ttl_secs)
    }
}

/// How location codes are sent (R8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum NotifierConfig {
    /// One file per message. Unset `dir`: `<data_dir>/outbox`.
    Outbox {
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    Smtp(SmtpConfig),
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self::Outbox { dir: None }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Envelope and header sender, a bare address.
    pub from: String,
    /// Required unless `host` is a local mail server.
    #[serde(default = "default_true")]
    pub starttls: bool,
    /// PEM CAs trusted for the server certificate; required with STARTTLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable holding the password (never the
    /// password itself, which does not belong in a file).
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_true() -> bool {
    true
}

fn default_smtp_timeout() -> u64 {
    30
}

/// An outbox's directory: the one configured, else `<data_dir>/outbox`.
pub fn outbox_dir_in(dir: Option<&Path>, data_dir: &Path) -> PathBuf {
    dir.map_or_else(|| data_dir.join("outbox"), Path::to_owned)
}

/// Where the data key comes from.
pub enum DataKeySource {
    /// From [`DATA_KEY_ENV`].
    Env(Zeroizing<[u8; 32]>),
    /// From this file (created 0600 on first start if missing).
    File(PathBuf),
}

impl fmt::Debug for DataKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(_) => f.write_str("Env(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Where a configured value came from, so an error can send the operator to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: PathBuf, line: usize },
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the built-in default"),
            Self::File { path, line } => write!(f, "{} line {line}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is {size} bytes; the limit is {max}", .path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{} line {line}, column {column}: not valid TOML: {message}", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{} line {line}: {key}: {message}", .path.display())]
    FileValue {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{var} = '{value}': {problem}")]
    Env {
        var: &'static str,
        value: String,
        problem: String,
    },
    /// The value itself is never echoed: it is a secret.
    #[error("{DATA_KEY_ENV} is not a data key: {problem}")]
    DataKeyEnv { problem: &'static str },
    #[error("{key} = {value} is not allowed: {allowed} (set by {origin})")]
    Invalid {
        key: &'static str,
        value: String,
        allowed: String,
        origin: Origin,
    },
}

/// Config files are small; refuse anything that is not.
const MAX_FILE_BYTES: u64 = 1 << 20;

impl RelayConfig {
    /// Builds the configuration from its four layers and checks it.
    /// `env` looks up environment variables (tests pass a map, main.rs
    /// `|k| std::env::var(k).ok()`).
    pub fn load(
        path: Option<&Path>,
        env: &impl Fn(&str) -> Option<String>,
        overrides: &CliOverrides,
    ) -> Result<Self, ConfigError> {
        let mut origins = layers::Origins::default();
        let mut config = match path {
            Some(path) => {
                let text = layers::read_bounded(path)?;
                Self::from_toml(&text, path, &mut origins)?
            }
            None => Self::default(),
        };
        config.apply_env(env, &mut origins)?;
        config.apply_overrides(overrides, &mut origins);
        config.validate(env, &origins)?;
        Ok(config)
    }

    /// Parses and checks a configuration file's text alone (no environment,
    /// no flags) — the file layer of [`RelayConfig::load`]. Public for fuzzing.
    pub fn parse_toml(text: &str) -> Result<Self, ConfigError> {
        let mut origins = layers::Origins::default();
        let config = Self::from_toml(text, Path::new("config.toml"), &mut origins)?;
        config.validate(&|_: &str| None, &origins)?;
        Ok(config)
    }

    /// The lockout policy the relay enforces (R6).
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            base_wait: Duration::from_secs(self.lockout.base_wait_secs),
            max_wait: Duration::from_secs(self.lockout.max_wait_secs),
            burn_after: self.lockout.burn_after,
        }
    }

    pub fn data_key_file(&self) -> PathBuf {
        self.data_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("data.key"))
    }

    pub fn operator_key_file(&self) -> PathBuf {
        self.operator_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("operator.key"))
    }

    /// The data key from [`DATA_KEY_ENV`] if set, else the key file to use.
    pub fn data_key_source(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<DataKeySource, ConfigError> {
        match env(DATA_KEY_ENV).map(Zeroizing::new) {
            Some(hex) if !hex.trim().is_empty() => {
                decode_key_hex(hex.trim()).map(DataKeySource::Env)
            }
            _ => Ok(DataKeySource::File(self.data_key_file())),
        }
    }

    pub fn tls_source(&self) -> TlsSource {
        match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            // `validate` refuses one without the other.
            _ => TlsSource::SelfSigned {
                cert: self.data_dir.join("relay-cert.pem"),
                key: self.data_dir.join("relay-key.pem"),
            },
        }
    }

    /// The outbox directory when the notifier is an outbox.
    pub fn outbox_dir(&self) -> Option<PathBuf> {
        match &self.notifier {
            NotifierConfig::Outbox { dir } => Some(outbox_dir_in(dir.as_deref(), &self.data_dir)),
            NotifierConfig::Smtp(_) => None,
        }
    }
}

fn decode_key_hex(hex: &str) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(ConfigError::DataKeyEnv {
            problem: "use exactly 64 hex digits (256 bits)",
        });
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return Err(ConfigError::DataKeyEnv {
                problem: "use only the hex digits 0-9 and a-f",
            });
        };
        *byte = (hi << 4) | lo;
    }
    Ok(key)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
