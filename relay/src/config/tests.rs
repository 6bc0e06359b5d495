use std::collections::HashMap;
use std::io::Write;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |key| map.get(key).cloned()
}

struct ConfigFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn config_file(text: &str) -> ConfigFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("relay.toml");
    let mut file = std::fs::File::create(&path).expect("create config");
    file.write_all(text.as_bytes()).expect("write config");
    ConfigFile { _dir: dir, path }
}

fn load_with(
    text: &str,
    env: &impl Fn(&str) -> Option<String>,
    flags: &CliOverrides,
) -> Result<RelayConfig, ConfigError> {
    let file = config_file(text);
    RelayConfig::load(Some(&file.path), env, flags)
}

fn load_toml(text: &str) -> Result<RelayConfig, ConfigError> {
    load_with_env(text, &no_env)
}

fn load_with_env(
    text: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<RelayConfig, ConfigError> {
    load_with(text, env, &CliOverrides::default())
}

fn error_text(text: &str) -> String {
    match load_toml(text) {
        Ok(config) => panic!("config was accepted: {config:?}\n{text}"),
        Err(err) => err.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn defaults_apply_when_nothing_is_configured() {
    let config = RelayConfig::load(None, &no_env, &CliOverrides::default()).expect("defaults");
    assert_eq!(config, RelayConfig::default());
    assert_eq!(config.listen, addr("[::]:443"));
    assert_eq!(config.metrics.listen, addr("127.0.0.1:9443"));
    assert!(config.metrics.enabled && !config.metrics.allow_remote);
    assert_eq!(config.log.format, LogFormat::Human);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.data_dir, Path::new("/var/lib/assent-relay"));
    assert_eq!(
        config.data_key_file(),
        Path::new("/var/lib/assent-relay/data.key")
    );
    assert_eq!(
        config.operator_key_file(),
        Path::new("/var/lib/assent-relay/operator.key")
    );
    assert_eq!(
        config.outbox_dir(),
        Some(PathBuf::from("/var/lib/assent-relay/outbox"))
    );
    assert!(matches!(config.tls_source(), TlsSource::SelfSigned { .. }));
    assert_eq!(config.lockout_policy(), LockoutPolicy::default());
    assert_eq!(
        (
            config.location.code_ttl_secs,
            config.location.max_codes_per_hour,
            config.location.network_prefix_v4,
            config.location.network_prefix_v6
        ),
        (600, 5, 24, 48)
    );
}

#[test]
fn example_config_parses_to_the_defaults() {
    let config = load_toml(example_toml()).expect("example parses");
    assert_eq!(config, RelayConfig::default());
}

#[test]
fn example_config_mentions_every_key() {
    let text = example_toml();
    for key in [
        "name",
        "listen",
        "data_dir",
        "data_key_file",
        "operator_key",
        "shutdown_grace_secs",
        "[tls]",
        "cert",
        "key",
        "[metrics]",
        "enabled",
        "allow_remote",
        "[log]",
        "format",
        "level",
        "[lockout]",
        "base_wait_secs",
        "max_wait_secs",
        "burn_after",
        "[ids]",
        "connections_per_source_per_minute",
        "handshake_failures_per_source_per_hour",
        "unknown_host_lookups_per_source_per_hour",
        "max_frame_errors",
        "block_secs",
        "max_tracked_sources",
        "handshakes_per_client_socket_per_second",
        "handshake_burst_per_client_socket",
        "handshakes_per_source_per_second",
        "handshake_burst_per_source",
        "max_unauthenticated_connections",
        "max_unauthenticated_per_source",
        "retry_above_unauthenticated",
        "[location]",
        "code_ttl_secs",
        "max_codes_per_hour",
        "network_prefix_v4",
        "network_prefix_v6",
        "[notifier]",
        "kind",
        "dir",
        "host",
        "port",
        "from",
        "starttls",
        "ca_file",
        "username",
        "password_env",
        "timeout_secs",
    ] {
        assert!(text.contains(key), "example.toml does not show {key}");
    }
    for var in ENV_VARS {
        if !var.key.is_empty() {
            assert!(text.contains(var.key.rsplit('.').next().unwrap_or(var.key)));
        }
    }
    assert!(text.contains(DATA_KEY_ENV));
}

#[test]
fn commented_smtp_example_parses_when_uncommented() {
    let text = example_toml();
    let start = text.find("# [notifier]").expect("smtp example present");
    let smtp: String = text[start..]
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    let config = load_with_env(&smtp, &env_of(&[("ASSENT_RELAY_SMTP_PASSWORD", "secret")]))
        .expect("smtp example parses");
    let NotifierConfig::Smtp(smtp) = config.notifier else {
        panic!("not smtp: {:?}", config.notifier);
    };
    assert_eq!(smtp.host, "smtp.example.org");
    assert!(smtp.starttls);
}

#[test]
fn file_values_override_defaults() {
    let config = load_toml(
        r#"
name = "Lab support relay"
listen = "127.0.0.1:4433"
data_dir = "/srv/relay"
shutdown_grace_secs = 5

[tls]
cert = "/etc/relay/cert.pem"
key = "/etc/relay/key.pem"

[metrics]
listen = "[::1]:9100"

[log]
format = "json"
level = "debug"

[lockout]
base_wait_secs = 2
max_wait_secs = 60
burn_after = 4

[location]
network_prefix_v4 = 16

[notifier]
kind = "outbox"
dir = "/srv/outbox"
"#,
    )
    .expect("valid file");
    assert_eq!(config.name, "Lab support relay");
    assert_eq!(config.listen, addr("127.0.0.1:4433"));
    assert_eq!(config.data_key_file(), Path::new("/srv/relay/data.key"));
    assert_eq!(config.shutdown_grace_secs, 5);
    assert_eq!(
        config.tls_source(),
        TlsSource::Files {
            cert: "/etc/relay/cert.pem".into(),
            key: "/etc/relay/key.pem".into()
        }
    );
    assert_eq!(config.metrics.listen, addr("[::1]:9100"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "debug");
    assert_eq!(
        config.lockout_policy(),
        LockoutPolicy {
            base_wait: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
            burn_after: 4
        }
    );
    assert_eq!(config.location.network_prefix_v4, 16);
    assert_eq!(
        config.location.network_prefix_v6, 48,
        "unset keys keep defaults"
    );
    assert_eq!(config.outbox_dir(), Some(PathBuf::from("/srv/outbox")));
}

#[test]
fn env_overrides_file() {
    let env = env_of(&[
        ("ASSENT_RELAY_LISTEN", "127.0.0.1:5000"),
        ("ASSENT_RELAY_DATA_DIR", "/env/data"),
        ("ASSENT_RELAY_METRICS_LISTEN", "127.0.0.1:9200"),
        ("ASSENT_RELAY_LOG_FORMAT", "json"),
        ("ASSENT_RELAY_LOG_LEVEL", "warn"),
        ("ASSENT_RELAY_SHUTDOWN_GRACE_SECS", "7"),
        ("ASSENT_RELAY_DATA_KEY_FILE", "/env/key"),
        ("ASSENT_RELAY_OPERATOR_KEY", "/env/operator"),
        ("ASSENT_RELAY_TLS_CERT", "/env/cert.pem"),
        ("ASSENT_RELAY_TLS_KEY", "/env/key.pem"),
    ]);
    let file = "listen = \"127.0.0.1:4000\"\ndata_dir = \"/file/data\"\n[log]\nformat = \"human\"\nlevel = \"debug\"\n";
    let config = load_with_env(file, &env).expect("valid");
    assert_eq!(config.listen, addr("127.0.0.1:5000"));
    assert_eq!(config.data_dir, Path::new("/env/data"));
    assert_eq!(config.metrics.listen, addr("127.0.0.1:9200"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "warn");
    assert_eq!(config.shutdown_grace_secs, 7);
    assert_eq!(config.data_key_file(), Path::new("/env/key"));
    assert_eq!(config.operator_key_file(), Path::new("/env/operator"));
    assert!(matches!(config.tls_source(), TlsSource::Files { .. }));
}

#[test]
fn every_listed_env_var_with_a_key_is_applied() {
    // The --help list and the loader must not drift apart.
    let values: HashMap<&str, &str> = [
        ("listen", "127.0.0.1:1"),
        ("metrics.listen", "127.0.0.1:2"),
        ("log.format", "json"),
        ("log.level", "trace"),
        ("shutdown_grace_secs", "9"),
    ]
    .into_iter()
    .collect();
    for var in ENV_VARS.iter().filter(|v| !v.key.is_empty()) {
        let value = values.get(var.key).copied().unwrap_or("/from/env");
        let mut pairs = vec![(var.name, value)];
        // TLS files only come in pairs.
        if var.key == "tls.cert" {
            pairs.push(("ASSENT_RELAY_TLS_KEY", "/k"));
        }
        if var.key == "tls.key" {
            pairs.push(("ASSENT_RELAY_TLS_CERT", "/c"));
        }
        let config = RelayConfig::load(None, &env_of(&pairs), &CliOverrides::default())
            .unwrap_or_else(|err| panic!("{}: {err}", var.name));
        assert_ne!(config, RelayConfig::default(), "{} had no effect", var.name);
    }
}

#[test]
fn flags_override_env() {
    let env = env_of(&[
        ("ASSENT_RELAY_LISTEN", "127.0.0.1:5000"),
        ("ASSENT_RELAY_DATA_DIR", "/env/data"),
        ("ASSENT_RELAY_METRICS_LISTEN", "127.0.0.1:9200"),
        ("ASSENT_RELAY_LOG_FORMAT", "json"),
        ("ASSENT_RELAY_LOG_LEVEL", "warn"),
    ]);
    let flags = CliOverrides {
        listen: Some(addr("127.0.0.1:6000")),
        data_dir: Some("/flag/data".into()),
        metrics_listen: Some(addr("[::1]:9300")),
        log_format: Some(LogFormat::Human),
        log_level: Some("error".to_owned()),
    };
    let config = load_with("listen = \"127.0.0.1:4000\"\n", &env, &flags).expect("valid");
    assert_eq!(config.listen, addr("127.0.0.1:6000"));
    assert_eq!(config.data_dir, Path::new("/flag/data"));
    assert_eq!(config.metrics.listen, addr("[::1]:9300"));
    assert_eq!(config.log.format, LogFormat::Human);
    assert_eq!(config.log.level, "error");
}

#[test]
fn empty_env_value_counts_as_unset() {
    let env = env_of(&[("ASSENT_RELAY_LISTEN", ""), ("ASSENT_RELAY_DATA_DIR", "")]);
    let config = load_with_env("listen = \"127.0.0.1:4000\"\n", &env).expect("valid");
    assert_eq!(config.listen, addr("127.0.0.1:4000"));
    assert_eq!(config.data_dir, RelayConfig::default().data_dir);
}

#[test]
fn unknown_key_is_refused_naming_it_and_its_line() {
    let top = error_text("listen = \"[::]:443\"\nlisten_adress = \"[::]:443\"\n");
    assert!(top.contains("line 2"), "{top}");
    assert!(top.contains("listen_adress"), "{top}");
    assert!(top.contains("relay.toml"), "{top}");

    let nested = error_text("[metrics]\nenabled = true\nlisen = \"127.0.0.1:1\"\n");
    assert!(nested.contains("metrics.lisen"), "{nested}");
    assert!(nested.contains("line 3"), "{nested}");

    let table = error_text("[metrix]\nlisten = \"127.0.0.1:1\"\n");
    assert!(table.contains("metrix"), "{table}");

    let notifier = error_text("[notifier]\nkind = \"outbox\"\ndirectory = \"/x\"\n");
    assert!(notifier.contains("notifier.directory"), "{notifier}");

    let smtp = error_text(
        "[notifier]\nkind = \"smtp\"\nhost = \"localhost\"\nfrom = \"a@b.org\"\nstarttls = false\npasword_env = \"X\"\n",
    );
    assert!(smtp.contains("pasword_env"), "{smtp}");
}

#[test]
fn unknown_notifier_kind_is_refused_listing_the_kinds() {
    let err = error_text("[notifier]\nkind = \"carrier-pigeon\"\n");
    assert!(err.contains("notifier"), "{err}");
    assert!(err.contains("outbox") && err.contains("smtp"), "{err}");
}

#[test]
fn toml_syntax_error_names_the_file_and_line() {
    let err = error_text("name = \"relay\"\n\n[lockout\nburn_after = 3\n");
    assert!(err.contains("relay.toml line 3"), "{err}");
    assert!(err.contains("not valid TOML"), "{err}");
}

#[test]
fn wrong_type_names_the_key() {
    let err = error_text("[lockout]\nburn_after = \"six\"\n");
    assert!(err.contains("line 2: lockout.burn_after"), "{err}");

    let err = error_text("listen = \"foo\"\n");
    assert!(err.contains("listen"), "{err}");
    assert!(
        err.contains("'foo' is not a socket address (e.g. [::]:443"),
        "{err}"
    );

    let err = error_text("[log]\nformat = \"xml\"\n");
    assert!(err.contains("log.format"), "{err}");
    assert!(err.contains("human") && err.contains("json"), "{err}");

    let err = error_text("[location]\nnetwork_prefix_v6 = 300\n");
    assert!(err.contains("location.network_prefix_v6"), "{err}");
}

#[test]
fn each_out_of_range_value_is_refused_naming_the_key_and_what_is_allowed() {
    let cases: &[(&str, &str)] = &[
        (
            "[lockout]\nburn_after = 0\n",
            "lockout.burn_after = 0 is not allowed: use a value from 1 to 100",
        ),
        (
            "[lockout]\nburn_after = 101\n",
            "lockout.burn_after = 101 is not allowed: use a value from 1 to 100",
        ),
        (
            "[lockout]\nbase_wait_secs = 0\n",
            "lockout.base_wait_secs = 0 is not allowed: use a value from 1 to 3600",
        ),
        (
            "[lockout]\nbase_wait_secs = 60\nmax_wait_secs = 30\n",
            "lockout.max_wait_secs = 30 is not allowed: use a value from lockout.base_wait_secs (60)",
        ),
        (
            "shutdown_grace_secs = 3601\n",
            "shutdown_grace_secs = 3601 is not allowed: use a value from 0 to 3600",
        ),
        ("name = \"\"\n", "name = '' is not allowed"),
        ("name = \"a\\nb\"\n", "no control characters"),
        ("data_dir = \"\"\n", "data_dir = '' is not allowed: use a non-empty path"),
        (
            "[log]\nlevel = \"info,[\"\n",
            "log.level = 'info,[' is not allowed: use error, warn, info, debug or trace",
        ),
        (
            "[ids]\nconnections_per_source_per_minute = 0\n",
            "ids.connections_per_source_per_minute = 0 is not allowed: use a value from 1 to 100000",
        ),
        (
            "[ids]\nhandshake_failures_per_source_per_hour = 0\n",
            "ids.handshake_failures_per_source_per_hour = 0 is not allowed",
        ),
        (
            "[ids]\nunknown_host_lookups_per_source_per_hour = 0\n",
            "ids.unknown_host_lookups_per_source_per_hour = 0 is not allowed",
        ),
        ("[ids]\nmax_frame_errors = 0\n", "ids.max_frame_errors = 0 is not allowed"),
        ("[ids]\nblock_secs = 0\n", "ids.block_secs = 0 is not allowed"),
        (
            "[ids]\nmax_tracked_sources = 10\n",
            "ids.max_tracked_sources = 10 is not allowed: use a value from 1000 to 10000000",
        ),
        (
            "[location]\ncode_ttl_secs = 10\n",
            "location.code_ttl_secs = 10 is not allowed: use a value from 60 to 3600",
        ),
        (
            "[location]\nmax_codes_per_hour = 0\n",
            "location.max_codes_per_hour = 0 is not allowed: use a value from 1 to 60",
        ),
        (
            "[location]\nnetwork_prefix_v4 = 0\n",
            "location.network_prefix_v4 = 0 is not allowed: use a value from 8 to 32",
        ),
        (
            "[location]\nnetwork_prefix_v6 = 129\n",
            "location.network_prefix_v6 = 129 is not allowed: use a value from 16 to 128",
        ),
        (
            "[tls]\ncert = \"/c.pem\"\n",
            "tls.cert = '/c.pem' is not allowed: set tls.key with it",
        ),
        (
            "[tls]\nkey = \"/k.pem\"\n",
            "tls.key = '/k.pem' is not allowed: set tls.cert with it",
        ),
        (
            "[notifier]\nkind = \"outbox\"\ndir = \"\"\n",
            "notifier.dir = '' is not allowed",
        ),
    ];
    for (text, expected) in cases {
        let err = error_text(text);
        assert!(
            err.contains(expected),
            "{text:?}\n  got: {err}\n  want: {expected}"
        );
        assert!(
            err.contains("relay.toml line "),
            "names where it was set: {err}"
        );
    }
}

#[test]
fn invalid_value_names_the_line_it_was_set_on() {
    let err = error_text("name = \"x\"\n\n[lockout]\nbase_wait_secs = 1\nburn_after = 0\n");
    assert!(err.ends_with("relay.toml line 5)"), "{err}");
}

#[test]
fn non_loopback_metrics_is_refused_unless_allowed() {
    for listen in ["0.0.0.0:9443", "[::]:9443", "192.0.2.10:9443"] {
        let err = error_text(&format!("[metrics]\nlisten = \"{listen}\"\n"));
        assert!(err.contains(&format!("metrics.listen = {listen}")), "{err}");
        assert!(err.contains("metrics.allow_remote = true"), "{err}");
    }
    let allowed = load_toml("[metrics]\nlisten = \"0.0.0.0:9443\"\nallow_remote = true\n")
        .expect("allowed remote");
    assert_eq!(allowed.metrics.listen, addr("0.0.0.0:9443"));
    load_toml("[metrics]\nlisten = \"[::1]:9443\"\n").expect("IPv6 loopback is fine");
}

#[test]
fn non_loopback_metrics_from_env_or_flag_names_that_source() {
    let env = env_of(&[("ASSENT_RELAY_METRICS_LISTEN", "0.0.0.0:9443")]);
    let err = RelayConfig::load(None, &env, &CliOverrides::default())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("metrics.listen = 0.0.0.0:9443 is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("environment variable ASSENT_RELAY_METRICS_LISTEN"),
        "{err}"
    );

    let flags = CliOverrides {
        metrics_listen: Some(addr("0.0.0.0:9443")),
        ..CliOverrides::default()
    };
    let err = RelayConfig::load(None, &no_env, &flags)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("flag --metrics-listen"), "{err}");
}

#[test]
fn bad_env_value_names_the_variable_and_what_is_allowed() {
    let cases = [
        (
            "ASSENT_RELAY_LISTEN",
            "foo",
            "ASSENT_RELAY_LISTEN = 'foo': not a socket address (e.g. [::]:443)",
        ),
        (
            "ASSENT_RELAY_METRICS_LISTEN",
            "localhost",
            "ASSENT_RELAY_METRICS_LISTEN = 'localhost': not a socket address",
        ),
        (
            "ASSENT_RELAY_LOG_FORMAT",
            "xml",
            "ASSENT_RELAY_LOG_FORMAT = 'xml': use human or json",
        ),
        (
            "ASSENT_RELAY_SHUTDOWN_GRACE_SECS",
            "soon",
            "ASSENT_RELAY_SHUTDOWN_GRACE_SECS = 'soon': not a whole number of seconds",
        ),
    ];
    for (var, value, expected) in cases {
        let err = RelayConfig::load(None, &env_of(&[(var, value)]), &CliOverrides::default())
            .expect_err("refused")
            .to_string();
        assert!(err.contains(expected), "got: {err}\nwant: {expected}");
    }
    let err = RelayConfig::load(
        None,
        &env_of(&[("ASSENT_RELAY_SHUTDOWN_GRACE_SECS", "99999")]),
        &CliOverrides::default(),
    )
    .expect_err("out of range")
    .to_string();
    assert!(
        err.contains("shutdown_grace_secs = 99999 is not allowed")
            && err.contains("ASSENT_RELAY_SHUTDOWN_GRACE_SECS"),
        "{err}"
    );
}

#[test]
fn unreadable_or_oversized_config_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.toml");
    let err = RelayConfig::load(Some(&missing), &no_env, &CliOverrides::default())
        .expect_err("missing file")
        .to_string();
    assert!(err.contains("missing.toml"), "{err}");

    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 10) as usize]).expect("write");
    let err =
        RelayConfig::load(Some(&big), &no_env, &CliOverrides::default()).expect_err("too large");
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err}");

    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"name = \"\xff\"\n").expect("write");
    let err = RelayConfig::load(Some(&binary), &no_env, &CliOverrides::default())
        .expect_err("not UTF-8")
        .to_string();
    assert!(
        err.contains("binary.toml line 1") && err.contains("UTF-8"),
        "{err}"
    );
}

#[test]
fn data_key_comes_from_env_hex_or_else_the_key_file() {
    let config = RelayConfig::default();
    match config.data_key_source(&no_env).expect("file source") {
        DataKeySource::File(path) => assert_eq!(path, config.data_key_file()),
        DataKeySource::Env(_) => panic!("no env key was given"),
    }
    let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    match config
        .data_key_source(&env_of(&[(DATA_KEY_ENV, hex)]))
        .expect("env key")
    {
        DataKeySource::Env(key) => {
            assert_eq!(key[0], 0x00);
            assert_eq!(key[1], 0x11);
            assert_eq!(key[31], 0xff);
        }
        DataKeySource::File(_) => panic!("env key ignored"),
    }
}

#[test]
fn malformed_data_key_env_is_refused_without_echoing_it() {
    let config = RelayConfig::default();
    let secretish = "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    for value in [secretish, "abcd", &"a".repeat(66)] {
        let err = config
            .data_key_source(&env_of(&[(DATA_KEY_ENV, value)]))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(DATA_KEY_ENV), "{err}");
        assert!(!err.contains(value), "the key must not be echoed: {err}");
    }
    let source = config
        .data_key_source(&env_of(&[(DATA_KEY_ENV, &"ab".repeat(32))]))
        .expect("valid");
    assert_eq!(format!("{source:?}"), "Env(<redacted>)");
}

fn smtp_toml(extra: &str) -> String {
    format!("[notifier]\nkind = \"smtp\"\nfrom = \"relay@example.org\"\n{extra}")
}

#[test]
fn smtp_with_starttls_needs_a_ca_file() {
    let err = error_text(&smtp_toml("host = \"smtp.example.org\"\n"));
    assert!(
        err.contains("notifier.ca_file = (unset) is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("relay.toml line 2)"),
        "points at the smtp choice: {err}"
    );
    let config = load_toml(&smtp_toml(
        "host = \"smtp.example.org\"\nca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n",
    ))
    .expect("valid");
    let NotifierConfig::Smtp(smtp) = &config.notifier else {
        panic!("not smtp");
    };
    assert_eq!(
        (smtp.port, smtp.starttls, smtp.timeout_secs),
        (587, true, 30)
    );
    assert_eq!(config.outbox_dir(), None);
}

#[test]
fn plaintext_smtp_is_refused_unless_the_server_is_local() {
    let err = error_text(&smtp_toml(
        "host = \"smtp.example.org\"\nstarttls = false\n",
    ));
    assert!(
        err.contains("notifier.starttls = false is not allowed"),
        "{err}"
    );
    assert!(err.contains("in clear"), "{err}");
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        load_toml(&smtp_toml(&format!(
            "host = \"{host}\"\nport = 25\nstarttls = false\n"
        )))
        .unwrap_or_else(|err| panic!("{host}: {err}"));
    }
}

#[test]
fn smtp_login_needs_a_set_password_variable() {
    let local = "host = \"localhost\"\nstarttls = false\n";
    let err = error_text(&smtp_toml(&format!("{local}username = \"relay\"\n")));
    assert!(
        err.contains("notifier.username = 'relay' is not allowed: also set notifier.password_env"),
        "{err}"
    );
    let err = error_text(&smtp_toml(&format!("{local}password_env = \"SMTP_PW\"\n")));
    assert!(
        err.contains(
            "notifier.password_env = 'SMTP_PW' is not allowed: also set notifier.username"
        ),
        "{err}"
    );
    let both = smtp_toml(&format!(
        "{local}username = \"relay\"\npassword_env = \"SMTP_PW\"\n"
    ));
    let err = error_text(&both);
    assert!(
        err.contains("notifier.password_env = 'SMTP_PW' is not allowed: set the environment variable SMTP_PW"),
        "{err}"
    );
    load_with_env(&both, &env_of(&[("SMTP_PW", "pw")])).expect("password variable set");
}

#[test]
fn bad_smtp_values_are_refused_naming_the_key() {
    let cases = [
        (smtp_toml("host = \"\"\n"), "notifier.host = '' is not allowed"),
        (
            smtp_toml("host = \"smtp example\"\n"),
            "notifier.host = 'smtp example' is not allowed",
        ),
        (
            smtp_toml("host = \"localhost\"\nstarttls = false\nport = 0\n"),
            "notifier.port = 0 is not allowed: use a port from 1 to 65535",
        ),
        (
            smtp_toml("host = \"localhost\"\nstarttls = false\ntimeout_secs = 0\n"),
            "notifier.timeout_secs = 0 is not allowed",
        ),
        (
            "[notifier]\nkind = \"smtp\"\nhost = \"localhost\"\nstarttls = false\nfrom = \"Relay <r@x.org>\"\n"
                .to_owned(),
            "notifier.from = 'Relay <r@x.org>' is not allowed: use a bare e-mail address",
        ),
    ];
    for (text, expected) in cases {
        let err = error_text(&text);
        assert!(
            err.contains(expected),
            "{text}\n  got: {err}\n  want: {expected}"
        );
    }
    let err = error_text("[notifier]\nkind = \"smtp\"\nfrom = \"r@x.org\"\n");
    assert!(err.contains("host"), "missing host is named: {err}");
}

#[test]
fn env_help_lists_every_variable() {
    let help = env_help();
    for var in ENV_VARS {
        assert!(
            help.contains(var.name) && help.contains(var.help),
            "{}",
            var.name
        );
    }
}

#[test]
fn loopback_hosts_are_recognised() {
    for host in [
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "[::1]",
    ] {
        assert!(is_loopback_host(host), "{host}");
    }
    for host in [
        "smtp.example.org",
        "10.0.0.1",
        "localhost.example.org",
        "::",
        "",
    ] {
        assert!(!is_loopback_host(host), "{host}");
    }
}
