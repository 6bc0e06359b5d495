//! `assent-relay`: the QUIC relay operators deploy (see the library docs for
//! what each module owns). This binary reads the configuration, opens the
//! state store and keys, and serves until SIGTERM or ctrl-c; its subcommands
//! manage the allowlist, query the audit log, publish signed host releases,
//! show host notifications and issue enrolment tokens.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use assent_proto::identity::Identity;
use assent_relay::admin::{
    self, AdminContext, AllowListCommand, AuditCommand, EnrolmentCommand, NotificationsCommand,
    ReleaseCommand, ReleaseKeyFiles, StopFlag,
};
use assent_relay::config::{CliOverrides, DataKeySource, LogFormat, RelayConfig};
use assent_relay::intrusion::IdsLimits;
use assent_relay::metrics::{serve_metrics, RelayMetrics};
use assent_relay::notifier::build_notifier;
use assent_relay::server::{AuditLog, RelayServer, RelayState, ServerSettings};
use assent_relay::store::{DataKey, SqliteStore, StateStore};
use clap::{Parser, Subcommand};
use rand_core::OsRng;
use tracing::{info, warn};

/// Assent relay: brokers instrument hosts and support engineers over QUIC
/// (UDP, default port 443) and forwards their end-to-end encrypted sessions
/// without being able to read them.
///
/// Settings come from defaults, then the TOML file (--config), then
/// ASSENT_RELAY_* environment variables, then flags.
#[derive(Parser)]
#[command(version, about, long_about, after_help = assent_relay::config::env_help())]
struct Cli {
    /// Configuration file (TOML). `assent-relay example-config` prints a commented one.
    #[arg(long, short, env = "ASSENT_RELAY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// UDP address to listen on for QUIC, e.g. [::]:443.
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Directory for the database, keys, certificate and outbox.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// TCP address of the Prometheus /metrics endpoint (loopback unless allowed in the config).
    #[arg(long, global = true)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Log format: human or json.
    #[arg(long, global = true)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info or assent_relay=debug.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Print the wire protocol version this relay speaks and exit.
    #[arg(long)]
    protocol_version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay (the default). On first start it creates the data key,
    /// the database and a self-signed certificate, and prints the certificate
    /// fingerprint that hosts and viewers pin.
    Serve,
    /// Print a commented example configuration file.
    ExampleConfig,
    /// Create the operator key that signs the allowlist (R7). Keep a copy
    /// offline; hosts pin its fingerprint.
    OperatorKeygen,
    /// Manage the engineers allowed to connect (R7).
    #[command(subcommand)]
    Allowlist(AllowListCommand),
    /// List, verify and export the sealed audit log (R12).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Invite an instrument to enrol: issue, list and revoke one-time tokens.
    #[command(subcommand)]
    Enrolment(EnrolmentCommand),
    /// Create the release key, sign and publish host releases, list them (R16).
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Show the notifications hosts report, or follow them live (R15).
    #[command(subcommand)]
    Notifications(NotificationsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.protocol_version {
        println!(
            "assent wire protocol v{}",
            assent_proto::wire::PROTOCOL_VERSION
        );
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("assent-relay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::ExampleConfig = command {
        print!("{}", assent_relay::config::example_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let overrides = CliOverrides {
        listen: cli.listen,
        data_dir: cli.data_dir,
        metrics_listen: cli.metrics_listen,
        log_format: cli.log_format,
        log_level: cli.log_level,
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = RelayConfig::load(cli.config.as_deref(), &env, &overrides)?;
    match command {
        Command::Serve => serve(config),
        Command::OperatorKeygen => operator_keygen(&config),
        Command::Allowlist(cmd) => with_admin(&config, |ctx| {
            admin::run_allowlist(&cmd, ctx).map(|()| ExitCode::SUCCESS)
        }),
        Command::Enrolment(cmd) => with_admin(&config, |ctx| {
            admin::run_enrolment(&cmd, ctx).map(|()| ExitCode::SUCCESS)
        }),
        Command::Audit(cmd) => with_admin(&config, |ctx| {
            let outcome = admin::run_audit(&cmd, ctx)?;
            if outcome.is_ok() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("assent-relay: {outcome}");
                Ok(ExitCode::FAILURE)
            }
        }),
        Command::Release(ReleaseCommand::Keygen { out }) => {
            data_dir(&config)?;
            let files = ReleaseKeyFiles::in_data_dir(&config.data_dir);
            admin::release_keygen(&files, out.as_deref(), &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Release(cmd) => with_admin(&config, |ctx| {
            let files = ReleaseKeyFiles::in_data_dir(&config.data_dir);
            admin::run_release(&cmd, ctx, &files).map(|()| ExitCode::SUCCESS)
        }),
        Command::Notifications(cmd) => {
            let stop = stop_on_signal()?;
            with_admin(&config, |ctx| {
                admin::run_notifications(&cmd, ctx, &stop).map(|()| ExitCode::SUCCESS)
            })
        }
        Command::ExampleConfig => unreachable!("handled above"),
    }
}

fn init_logging(config: &RelayConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// The data directory, created owner-only if missing.
fn data_dir(config: &RelayConfig) -> Result<()> {
    if !config.data_dir.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// The data key from the environment or its file; created on first start.
fn data_key(config: &RelayConfig, create: bool) -> Result<DataKey> {
    let env = |name: &str| std::env::var(name).ok();
    match config.data_key_source(&env)? {
        DataKeySource::Env(bytes) => Ok(DataKey::from_bytes(*bytes)),
        DataKeySource::File(path) if path.exists() || !create => {
            Ok(DataKey::load(&path).with_context(|| "loading the data key")?)
        }
        DataKeySource::File(path) => {
            let key = DataKey::generate_file(&path, &mut OsRng)?;
            warn!(path = %path.display(), "generated a new data key; back it up — without it the database cannot be read");
            Ok(key)
        }
    }
}

fn open_store(config: &RelayConfig, key: &DataKey) -> Result<Arc<dyn StateStore>> {
    let path = config.data_dir.join("relay.db");
    let store = SqliteStore::open(&path, key)
        .with_context(|| format!("opening the state store {}", path.display()))?;
    Ok(Arc::new(store))
}

fn settings(config: &RelayConfig) -> ServerSettings {
    let ids = &config.ids;
    ServerSettings {
        relay_name: config.name.clone(),
        lockout: config.lockout_policy(),
        ids: IdsLimits {
            connections_per_minute: ids.connections_per_source_per_minute,
            unknown_hosts_per_hour: ids.unknown_host_lookups_per_source_per_hour,
            auth_failures_per_hour: ids.handshake_failures_per_source_per_hour,
            malformed_frames_per_hour: ids.max_frame_errors,
            block_for: ids.block_duration(),
            max_sources: ids.max_tracked_sources as usize,
            admission: ids.admission(),
            ..IdsLimits::default()
        },
        location_code_ttl: config.location.code_ttl(),
        location_codes_per_hour: config.location.max_codes_per_hour,
        network_prefix_v4: config.location.network_prefix_v4,
        network_prefix_v6: config.location.network_prefix_v6,
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        ..ServerSettings::default()
    }
}

fn serve(config: RelayConfig) -> Result<ExitCode> {
    init_logging(&config);
    data_dir(&config)?;
    let key = data_key(&config, true)?;
    let store = open_store(&config, &key)?;
    mark_hosts_offline(store.as_ref())?;
    let tls = assent_relay::tls::load_or_create(
        &config.tls_source(),
        &[config.name.clone(), "localhost".into()],
    )?;
    if tls.generated {
        info!("generated a self-signed relay certificate");
    }
    // Printed on stdout so scripts can read it: hosts and viewers pin it (R2).
    println!("relay certificate fingerprint: {}", tls.fingerprint);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let metrics = Arc::new(RelayMetrics::new());
        let notifier = build_notifier(&config, &|name: &str| std::env::var(name).ok())?;
        let audit = AuditLog::new(store.clone(), key.audit_key());
        let state = RelayState::new(
            settings(&config),
            store,
            audit,
            metrics.clone(),
            Arc::from(notifier),
        );
        let server_config = assent_net::server_config(tls.chain, tls.key, &Default::default())?;
        let endpoint = assent_net::server_endpoint(config.listen, server_config)
            .with_context(|| format!("listening on {}", config.listen))?;
        let server = RelayServer::new(endpoint, state);
        info!(listen = %server.local_addr()?, "relay serving");
        println!("listening on {}", server.local_addr()?);

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if config.metrics.enabled {
            let listener = tokio::net::TcpListener::bind(config.metrics.listen)
                .await
                .with_context(|| {
                    format!("binding the metrics endpoint {}", config.metrics.listen)
                })?;
            let mut stop = stop_rx.clone();
            tokio::spawn(serve_metrics(listener, metrics, async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            }));
            info!(listen = %config.metrics.listen, "metrics endpoint at /metrics");
        }
        tokio::spawn(async move {
            shutdown_signal().await;
            info!("shutdown requested");
            let _ = stop_tx.send(true);
        });
        server.run(stop_rx).await;
        info!("relay stopped; audit log is on disk");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Hosts still marked online were connected when this relay last stopped
/// (or was killed): none is connected now. (With several relays sharing one
/// store this needs per-relay ownership of connections; SQLite is one relay.)
fn mark_hosts_offline(store: &dyn StateStore) -> Result<()> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for host in store.list_hosts()?.into_iter().filter(|h| h.online) {
        store.record_presence(
            &host.host_id,
            assent_relay::store::PresenceEvent::Offline,
            now_ms,
            "relay restarted",
        )?;
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// A flag raised on SIGTERM or ctrl-c, for admin commands that run until
/// stopped (`notifications watch`); they then end normally and exit 0.
fn stop_on_signal() -> Result<Arc<StopFlag>> {
    let stop = Arc::new(StopFlag::new(false));
    let raise = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    // Register the handlers before returning, so a signal sent right after
    // the command starts is not lost (or fatal).
    #[cfg(unix)]
    let mut term = runtime
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        })
        .context("installing the SIGTERM handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            });
            raise.store(true, std::sync::atomic::Ordering::Relaxed);
        })
        .context("starting the signal handler")?;
    Ok(stop)
}

fn operator_keygen(config: &RelayConfig) -> Result<ExitCode> {
    data_dir(config)?;
    let path = config.operator_key_file();
    if path.exists() {
        bail!(
            "{} already exists; refusing to replace the operator key",
            path.display()
        );
    }
    eprintln!("generating an RSA-4096 operator key (this takes a few seconds)…");
    let identity = Identity::generate(&mut OsRng)?;
    identity.save(&path)?;
    println!("operator key written to {}", path.display());
    // Hosts pin this public key at enrolment to verify the signed allowlist (R7).
    let public_path = path.with_extension("pub.pem");
    std::fs::write(&public_path, identity.public().to_spki_pem())
        .with_context(|| format!("writing {}", public_path.display()))?;
    println!("operator public key written to {}", public_path.display());
    println!("operator fingerprint: {}", identity.fingerprint());
    Ok(ExitCode::SUCCESS)
}

/// Opens what the admin commands need, without starting the server.
fn with_admin(
    config: &RelayConfig,
    run: impl FnOnce(&mut AdminContext<'_>) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let key = data_key(config, false)?;
    let store = open_store(config, &key)?;
    let operator_path = config.operator_key_file();
    let operator = if operator_path.exists() {
        Some(Identity::load(&operator_path).context("loading the operator key")?)
    } else {
        None
    };
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut stdout = std::io::stdout().lock();
    let mut ctx = AdminContext {
        store: store.as_ref(),
        data_key: &key,
        operator: operator.as_ref(),
        now_unix,
        out: &mut stdout,
    };
    run(&mut ctx)
}
