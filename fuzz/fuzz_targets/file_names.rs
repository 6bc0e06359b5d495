//! File names from a peer or the local disk: arbitrary UTF-8 never panics
//! `SafeFileName::parse`, and every accepted name is one plain component
//! that is safe on Linux and Windows (checked here independently of the
//! implementation) and parses again to itself.
#![no_main]

use std::path::{Component, Path};

use assent_proto::file_transfer::SafeFileName;
use assent_proto::messages::file_transfer::FILE_NAME_MAX;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(safe) = SafeFileName::parse(text) else {
        return;
    };
    let name = safe.as_str();
    assert_eq!(name, text);
    assert!(!name.is_empty() && name.len() <= FILE_NAME_MAX);
    assert!(!name.contains(['/', '\\', ':', '<', '>', '"', '|', '?', '*']));
    assert!(!name.chars().any(|c| c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')));
    assert!(!name.starts_with('.') && !name.ends_with(['.', ' ']));
    let mut components = Path::new(name).components();
    assert_eq!(components.next(), Some(Component::Normal(name.as_ref())));
    assert_eq!(components.next(), None);
    let stem = name.split('.').next().unwrap_or_default();
    let stem = stem.trim_matches(' ').to_uppercase();
    let is_port = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().count() == 1 && "0123456789¹²³".contains(rest))
    };
    assert!(
        !matches!(
            stem.as_str(),
            "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
        ) && !is_port("COM")
            && !is_port("LPT"),
        "{name:?} is a Windows device name"
    );
    assert_eq!(SafeFileName::parse(name).as_ref(), Ok(&safe));
});
