//! The layers under a checked configuration: the TOML file (with each key's
//! line, so errors can point at it), then environment variables, then flags.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::{CliOverrides, ConfigError, Origin, RelayConfig, MAX_FILE_BYTES};

impl RelayConfig {
    pub(super) fn from_toml(
        text: &str,
        path: &Path,
        origins: &mut Origins,
    ) -> Result<Self, ConfigError> {
        let table = toml::de::DeTable::parse(text).map_err(|err| {
            let (line, column) = line_column(text, err.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: err.message().trim().to_owned(),
            }
        })?;
        let mut keys = Vec::new();
        index_keys(table.get_ref(), "", &mut keys);
        let config = Self::deserialize(toml::de::Deserializer::from(table)).map_err(|err| {
            let message = err.message().trim().to_owned();
            let at = err.span().map_or(0, |s| s.start);
            let (mut line, _) = line_column(text, at);
            let mut key = key_at(&keys, at).unwrap_or_default();
            // Inside a tagged table the error points at the whole table;
            // name the unknown key itself, and its line.
            if let Some(unknown) = unknown_field(&message) {
                if key.rsplit('.').next() != Some(unknown) {
                    key = if key.is_empty() {
                        unknown.to_owned()
                    } else {
                        format!("{key}.{unknown}")
                    };
                    if let Some(entry) = keys.iter().find(|e| e.path == key) {
                        line = line_column(text, entry.key_span.start).0;
                    }
                }
            }
            if key.is_empty() {
                key = "(top level)".to_owned();
            }
            ConfigError::FileValue {
                path: path.to_owned(),
                line,
                key,
                message,
            }
        })?;
        for entry in keys {
            let (line, _) = line_column(text, entry.key_span.start);
            origins.set(
                entry.path,
                Origin::File {
                    path: path.to_owned(),
                    line,
                },
            );
        }
        Ok(config)
    }

    pub(super) fn apply_env(
        &mut self,
        env: &impl Fn(&str) -> Option<String>,
        origins: &mut Origins,
    ) -> Result<(), ConfigError> {
        let get = |var: &'static str| env(var).filter(|v| !v.is_empty());
        let mut set = |key: &str, var: &'static str| origins.set(key.to_owned(), Origin::Env(var));

        if let Some(v) = get("ASSENT_RELAY_LISTEN") {
            self.listen = env_socket_addr("ASSENT_RELAY_LISTEN", v)?;
            set("listen", "ASSENT_RELAY_LISTEN");
        }
        if let Some(v) = get("ASSENT_RELAY_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
            set("data_dir", "ASSENT_RELAY_DATA_DIR");
        }
        if let Some(v) = get("ASSENT_RELAY_DATA_KEY_FILE") {
            self.data_key_file = Some(PathBuf::from(v));
            set("data_key_file", "ASSENT_RELAY_DATA_KEY_FILE");
        }
        if let Some(v) = get("ASSENT_RELAY_OPERATOR_KEY") {
            self.operator_key = Some(PathBuf::from(v));
            set("operator_key", "ASSENT_RELAY_OPERATOR_KEY");
        }
        if let Some(v) = get("ASSENT_RELAY_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(v));
            set("tls.cert", "ASSENT_RELAY_TLS_CERT");
        }
        if let Some(v) = get("ASSENT_RELAY_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(v));
            set("tls.key", "ASSENT_RELAY_TLS_KEY");
        }
        if let Some(v) = get("ASSENT_RELAY_METRICS_LISTEN") {
            self.metrics.listen = env_socket_addr("ASSENT_RELAY_METRICS_LISTEN", v)?;
            set("metrics.listen", "ASSENT_RELAY_METRICS_LISTEN");
        }
        if let Some(v) = get("ASSENT_RELAY_LOG_FORMAT") {
            self.log.format = v.parse().map_err(|problem| ConfigError::Env {
                var: "ASSENT_RELAY_LOG_FORMAT",
                value: v.clone(),
                problem,
            })?;
            set("log.format", "ASSENT_RELAY_LOG_FORMAT");
        }
        if let Some(v) = get("ASSENT_RELAY_LOG_LEVEL") {
            self.log.level = v;
            set("log.level", "ASSENT_RELAY_LOG_LEVEL");
        }
        if let Some(v) = get("ASSENT_RELAY_SHUTDOWN_GRACE_SECS") {
            self.shutdown_grace_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                var: "ASSENT_RELAY_SHUTDOWN_GRACE_SECS",
                value: v.clone(),
                problem: "not a whole number of seconds (0 to 3600)".to_owned(),
            })?;
            set("shutdown_grace_secs", "ASSENT_RELAY_SHUTDOWN_GRACE_SECS");
        }
        Ok(())
    }

    pub(super) fn apply_overrides(&mut self, flags: &CliOverrides, origins: &mut Origins) {
        let mut set =
            |key: &str, flag: &'static str| origins.set(key.to_owned(), Origin::Flag(flag));
        if let Some(listen) = flags.listen {
            self.listen = listen;
            set("listen", "--listen");
        }
        if let Some(dir) = &flags.data_dir {
            self.data_dir.clone_from(dir);
            set("data_dir", "--data-dir");
        }
        if let Some(listen) = flags.metrics_listen {
            self.metrics.listen = listen;
            set("metrics.listen", "--metrics-listen");
        }
        if let Some(format) = flags.log_format {
            self.log.format = format;
            set("log.format", "--log-format");
        }
        if let Some(level) = &flags.log_level {
            self.log.level.clone_from(level);
            set("log.level", "--log-level");
        }
    }
}

/// The dotted keys set in the file, env or flags, and where each was set.
#[derive(Default)]
pub(super) struct Origins(HashMap<String, Origin>);

impl Origins {
    pub(super) fn set(&mut self, key: String, origin: Origin) {
        self.0.insert(key, origin);
    }

    pub(super) fn of(&self, key: &str) -> Origin {
        self.0.get(key).cloned().unwrap_or(Origin::Default)
    }
}

pub(super) fn socket_addr<'de, D: Deserializer<'de>>(de: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(de)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "'{}' is not a socket address (e.g. [::]:443 or 127.0.0.1:9443)",
            text.escape_debug()
        ))
    })
}

fn env_socket_addr(var: &'static str, value: String) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        var,
        value,
        problem: "not a socket address (e.g. [::]:443)".to_owned(),
    })
}

pub(super) fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_FILE_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|err| {
        let (line, column) = line_column_bytes(err.as_bytes(), err.utf8_error().valid_up_to());
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: "the file is not UTF-8 text".to_owned(),
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    line_column_bytes(text.as_bytes(), offset)
}

fn line_column_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, before.len() - line_start + 1)
}

struct KeyEntry {
    path: String,
    key_span: std::ops::Range<usize>,
    value_span: std::ops::Range<usize>,
}

fn index_keys(table: &toml::de::DeTable<'_>, prefix: &str, out: &mut Vec<KeyEntry>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if let toml::de::DeValue::Table(inner) = value.get_ref() {
            index_keys(inner, &path, out);
        }
        out.push(KeyEntry {
            path,
            key_span: key.span(),
            value_span: value.span(),
        });
    }
}

/// The key named in serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// The innermost key whose name or value covers `offset`.
fn key_at(keys: &[KeyEntry], offset: usize) -> Option<String> {
    let covers = |span: &std::ops::Range<usize>| span.contains(&offset) || span.start == offset;
    keys.iter()
        .filter(|e| covers(&e.key_span) || covers(&e.value_span))
        .min_by_key(|e| {
            if covers(&e.key_span) {
                0
            } else {
                e.value_span.len()
            }
        })
        .map(|e| e.path.clone())
}
