//! Checks on a layered configuration: each refusal names the key, the value,
//! what is allowed and where the value was set.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::layers::Origins;
use super::{ConfigError, NotifierConfig, RelayConfig, SmtpConfig};
use crate::notifier::check_email_address;

impl RelayConfig {
    pub(super) fn validate(
        &self,
        env: &impl Fn(&str) -> Option<String>,
        origins: &Origins,
    ) -> Result<(), ConfigError> {
        let check = Checker { origins };
        check.text("name", &self.name, 64)?;
        check.path("data_dir", &self.data_dir)?;
        if let Some(path) = &self.data_key_file {
            check.path("data_key_file", path)?;
        }
        if let Some(path) = &self.operator_key {
            check.path("operator_key", path)?;
        }
        check.range("shutdown_grace_secs", self.shutdown_grace_secs, 0, 3600)?;

        match (&self.tls.cert, &self.tls.key) {
            (Some(cert), None) => {
                return Err(check.invalid(
                    "tls.cert",
                    quoted_path(cert),
                    "set tls.key with it (both PEM files), or neither to use a generated self-signed certificate",
                ))
            }
            (None, Some(key)) => {
                return Err(check.invalid(
                    "tls.key",
                    quoted_path(key),
                    "set tls.cert with it (both PEM files), or neither to use a generated self-signed certificate",
                ))
            }
            (Some(cert), Some(key)) => {
                check.path("tls.cert", cert)?;
                check.path("tls.key", key)?;
            }
            (None, None) => {}
        }

        if !self.metrics.allow_remote && !self.metrics.listen.ip().is_loopback() {
            return Err(check.invalid(
                "metrics.listen",
                self.metrics.listen,
                "the metrics endpoint binds to loopback (127.0.0.1 or [::1]) unless metrics.allow_remote = true",
            ));
        }

        if self.log.level.len() > 1024
            || tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
        {
            return Err(check.invalid(
                "log.level",
                quoted(&self.log.level),
                "use error, warn, info, debug or trace, or a filter such as 'info,assent_relay=debug'",
            ));
        }

        let lockout = &self.lockout;
        check.range("lockout.base_wait_secs", lockout.base_wait_secs, 1, 3600)?;
        if lockout.max_wait_secs < lockout.base_wait_secs || lockout.max_wait_secs > 30 * 86_400 {
            return Err(check.invalid(
                "lockout.max_wait_secs",
                lockout.max_wait_secs,
                format!(
                    "use a value from lockout.base_wait_secs ({}) to 2592000 (30 days)",
                    lockout.base_wait_secs
                ),
            ));
        }
        check.range("lockout.burn_after", lockout.burn_after.into(), 1, 100)?;

        let ids = &self.ids;
        check.range(
            "ids.connections_per_source_per_minute",
            ids.connections_per_source_per_minute.into(),
            1,
            100_000,
        )?;
        check.range(
            "ids.handshake_failures_per_source_per_hour",
            ids.handshake_failures_per_source_per_hour.into(),
            1,
            10_000,
        )?;
        check.range(
            "ids.unknown_host_lookups_per_source_per_hour",
            ids.unknown_host_lookups_per_source_per_hour.into(),
            1,
            10_000,
        )?;
        check.range(
            "ids.max_frame_errors",
            ids.max_frame_errors.into(),
            1,
            10_000,
        )?;
        check.range("ids.block_secs", ids.block_secs, 1, 7 * 86_400)?;
        check.range(
            "ids.max_tracked_sources",
            ids.max_tracked_sources.into(),
            1_000,
            10_000_000,
        )?;
        for (key, rate) in [
            (
                "ids.handshakes_per_client_socket_per_second",
                ids.handshakes_per_client_socket_per_second,
            ),
            (
                "ids.handshakes_per_source_per_second",
                ids.handshakes_per_source_per_second,
            ),
        ] {
            check.range(key, rate.into(), 0, 100_000)?;
        }
        for (key, burst) in [
            (
                "ids.handshake_burst_per_client_socket",
                ids.handshake_burst_per_client_socket,
            ),
            (
                "ids.handshake_burst_per_source",
                ids.handshake_burst_per_source,
            ),
        ] {
            check.range(key, burst.into(), 1, 1_000_000)?;
        }
        let unauthenticated = u64::from(ids.max_unauthenticated_connections);
        check.range(
            "ids.max_unauthenticated_connections",
            unauthenticated,
            1,
            1_000_000,
        )?;
        check.range(
            "ids.max_unauthenticated_per_source",
            ids.max_unauthenticated_per_source.into(),
            1,
            unauthenticated,
        )?;
        check.range(
            "ids.retry_above_unauthenticated",
            ids.retry_above_unauthenticated.into(),
            0,
            unauthenticated,
        )?;

        let location = &self.location;
        check.range("location.code_ttl_secs", location.code_ttl_secs, 60, 3600)?;
        check.range(
            "location.max_codes_per_hour",
            location.max_codes_per_hour.into(),
            1,
            60,
        )?;
        check.range(
            "location.network_prefix_v4",
            location.network_prefix_v4.into(),
            8,
            32,
        )?;
        check.range(
            "location.network_prefix_v6",
            location.network_prefix_v6.into(),
            16,
            128,
        )?;

        match &self.notifier {
            NotifierConfig::Outbox { dir: Some(dir) } => check.path("notifier.dir", dir),
            NotifierConfig::Outbox { dir: None } => Ok(()),
            NotifierConfig::Smtp(smtp) => check.smtp(smtp, env),
        }
    }
}

struct Checker<'a> {
    origins: &'a Origins,
}

impl Checker<'_> {
    fn invalid(
        &self,
        key: &'static str,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            key,
            value: value.to_string(),
            allowed: allowed.into(),
            origin: self.origins.of(key),
        }
    }

    /// For a key left unset: where the setting that needs it was made.
    fn invalid_at(
        &self,
        key: &'static str,
        value: impl fmt::Display,
        allowed: impl Into<String>,
        origin_key: &str,
    ) -> ConfigError {
        ConfigError::Invalid {
            key,
            value: value.to_string(),
            allowed: allowed.into(),
            origin: self.origins.of(origin_key),
        }
    }

    fn range(&self, key: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(self.invalid(key, value, format!("use a value from {min} to {max}")))
        }
    }

    fn text(&self, key: &'static str, value: &str, max_chars: usize) -> Result<(), ConfigError> {
        let chars = value.chars().count();
        if chars == 0 || chars > max_chars || value.chars().any(char::is_control) {
            Err(self.invalid(
                key,
                quoted(value),
                format!("use 1 to {max_chars} characters, no control characters"),
            ))
        } else {
            Ok(())
        }
    }

    fn path(&self, key: &'static str, value: &Path) -> Result<(), ConfigError> {
        if value.as_os_str().is_empty() {
            Err(self.invalid(key, quoted_path(value), "use a non-empty path"))
        } else {
            Ok(())
        }
    }

    fn smtp(
        &self,
        smtp: &SmtpConfig,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let host_ok = !smtp.host.is_empty()
            && smtp.host.len() <= 253
            && smtp
                .host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !host_ok {
            return Err(self.invalid(
                "notifier.host",
                quoted(&smtp.host),
                "use a host name or IP address, e.g. smtp.example.org",
            ));
        }
        if smtp.port == 0 {
            return Err(self.invalid("notifier.port", 0, "use a port from 1 to 65535"));
        }
        if let Err(problem) = check_email_address(&smtp.from) {
            return Err(self.invalid(
                "notifier.from",
                quoted(&smtp.from),
                format!("use a bare e-mail address such as relay@example.org ({problem})"),
            ));
        }
        if smtp.starttls {
            if smtp.ca_file.is_none() {
                return Err(self.invalid_at(
                    "notifier.ca_file",
                    "(unset)",
                    "STARTTLS needs the CAs to trust for the server certificate, e.g. /etc/ssl/certs/ca-certificates.crt",
                    "notifier.kind",
                ));
            }
        } else if !is_loopback_host(&smtp.host) {
            return Err(self.invalid(
                "notifier.starttls",
                false,
                format!(
                    "only a mail server on this machine (localhost) may be used without STARTTLS, not '{}': codes would cross the network in clear",
                    smtp.host
                ),
            ));
        }
        if let Some(path) = &smtp.ca_file {
            self.path("notifier.ca_file", path)?;
        }
        match (&smtp.username, &smtp.password_env) {
            (Some(user), Some(var)) => {
                self.text("notifier.username", user, 256)?;
                if env(var).is_none_or(|v| v.is_empty()) {
                    return Err(self.invalid(
                        "notifier.password_env",
                        quoted(var),
                        format!("set the environment variable {var} to the SMTP password"),
                    ));
                }
            }
            (Some(user), None) => {
                return Err(self.invalid(
                    "notifier.username",
                    quoted(user),
                    "also set notifier.password_env to the name of the environment variable holding the SMTP password",
                ))
            }
            (None, Some(var)) => {
                return Err(self.invalid(
                    "notifier.password_env",
                    quoted(var),
                    "also set notifier.username, or unset both",
                ))
            }
            (None, None) => {}
        }
        self.range("notifier.timeout_secs", smtp.timeout_secs, 1, 300)
    }
}

fn quoted_path(value: &Path) -> String {
    quoted(&value.to_string_lossy())
}

fn quoted(value: &str) -> String {
    format!("'{}'", value.escape_debug())
}

/// A host that is this machine: `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
