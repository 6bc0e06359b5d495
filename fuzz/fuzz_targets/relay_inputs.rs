//! The relay's own decoders of untrusted text (signalling frames are covered
//! by `session_messages`): the metrics endpoint's HTTP request head, the
//! configuration file, location codes and certificate fingerprints typed by
//! people. Each gives a clean error or a value; never a panic.
#![no_main]

use assent_net::CertFingerprint;
use assent_relay::config::RelayConfig;
use assent_relay::metrics::{response_to, RelayMetrics};
use assent_relay::notifier::LocationCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let response = response_to(rest, &RelayMetrics::new());
            assert!(response.starts_with(b"HTTP/1.1 "));
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = RelayConfig::parse_toml(text);
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = LocationCode::parse(text);
                let _ = text.parse::<CertFingerprint>();
            }
        }
    }
});
