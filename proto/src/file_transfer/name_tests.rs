use std::path::{Component, Path};

use proptest::prelude::*;

use super::{FileNameError, SafeFileName};
use crate::messages::file_transfer::FILE_NAME_MAX;

fn refused(name: &str) -> FileNameError {
    match SafeFileName::parse(name) {
        Ok(safe) => panic!("{name:?} was accepted as {safe:?}"),
        Err(e) => e,
    }
}

#[test]
fn an_empty_name_is_refused() {
    assert_eq!(refused(""), FileNameError::Empty);
}

#[test]
fn a_name_over_255_bytes_is_refused_and_255_bytes_is_accepted() {
    assert_eq!(
        refused(&"a".repeat(256)),
        FileNameError::TooLong { len: 256 }
    );
    // 85 three-byte characters: 255 bytes but only 85 characters.
    let wide = "測".repeat(85);
    assert_eq!(wide.len(), FILE_NAME_MAX);
    assert!(SafeFileName::parse(&wide).is_ok());
    assert_eq!(
        refused(&format!("{wide}a")),
        FileNameError::TooLong { len: 256 }
    );
}

#[test]
fn control_characters_and_nul_are_refused() {
    for name in [
        "a\0b",
        "a\nb",
        "a\tb",
        "a\x1b[31mb",
        "a\x7fb",
        "a\u{85}b",
        "\r",
    ] {
        assert!(
            matches!(refused(name), FileNameError::ControlCharacter { .. }),
            "{name:?}"
        );
    }
}

#[test]
fn path_separators_are_refused_and_the_message_says_so() {
    let err = refused("../etc/passwd");
    assert_eq!(
        err,
        FileNameError::PathSeparator {
            name: "../etc/passwd".into(),
            separator: '/'
        }
    );
    assert!(err
        .to_string()
        .starts_with("file name \"../etc/passwd\" contains a path separator"));
    for (name, separator) in [
        ("/etc/passwd", '/'),
        ("dir/file.txt", '/'),
        ("..\\windows\\system32", '\\'),
        ("a\\b", '\\'),
        ("file/", '/'),
    ] {
        assert_eq!(
            refused(name),
            FileNameError::PathSeparator {
                name: name.into(),
                separator
            }
        );
    }
}

#[test]
fn dot_and_dot_dot_are_refused() {
    for name in [".", ".."] {
        assert_eq!(
            refused(name),
            FileNameError::DirectoryReference { name: name.into() }
        );
    }
}

#[test]
fn drive_prefixes_are_refused() {
    for name in ["C:", "c:evil.exe", "Z:report.pdf"] {
        assert_eq!(
            refused(name),
            FileNameError::DrivePrefix { name: name.into() }
        );
    }
}

#[test]
fn a_colon_anywhere_is_refused_as_an_ntfs_stream() {
    for name in [
        "report.pdf:hidden",
        "report.pdf::$DATA",
        "ab:c",
        "12:30.txt",
    ] {
        assert_eq!(refused(name), FileNameError::Colon { name: name.into() });
    }
}

#[test]
fn characters_windows_reserves_are_refused() {
    for character in ['<', '>', '"', '|', '?', '*'] {
        let name = format!("a{character}b.txt");
        assert_eq!(
            refused(&name),
            FileNameError::ReservedCharacter {
                name: name.clone(),
                character
            }
        );
    }
}

#[test]
fn bidirectional_controls_that_disguise_an_extension_are_refused() {
    for (name, code) in [
        ("invoice\u{202E}fdp.exe", 0x202E),
        ("a\u{2066}b.txt", 0x2066),
        ("a\u{200F}b.txt", 0x200F),
        ("a\u{061C}b.txt", 0x061C),
    ] {
        let err = refused(name);
        assert_eq!(
            err,
            FileNameError::BidiControl {
                name: name.into(),
                code
            }
        );
        // The message shows the control escaped, so it cannot reorder itself.
        assert!(!err.to_string().contains(char::from_u32(code).unwrap()));
    }
}

#[test]
fn names_ending_in_a_dot_or_space_are_refused() {
    for (name, last) in [
        ("report.pdf.", '.'),
        ("report.pdf ", ' '),
        ("...", '.'),
        ("a. ", ' '),
    ] {
        assert_eq!(
            refused(name),
            FileNameError::TrailingDotOrSpace {
                name: name.into(),
                last
            }
        );
    }
}

#[test]
fn windows_device_names_are_refused_in_any_case_with_extensions_and_spaces() {
    for (name, device) in [
        ("CON", "CON"),
        ("con", "CON"),
        ("Prn.txt", "PRN"),
        ("aux.tar.gz", "AUX"),
        ("NUL .txt", "NUL"),
        (" nul.log", "NUL"),
        ("COM0", "COM0"),
        ("com9.ini", "COM9"),
        ("LPT1", "LPT1"),
        ("lpt0.dat", "LPT0"),
        ("COM¹", "COM¹"),
        ("lpt³.txt", "LPT³"),
        ("CONIN$", "CONIN$"),
        ("conout$.txt", "CONOUT$"),
    ] {
        assert_eq!(
            refused(name),
            FileNameError::DeviceName {
                name: name.into(),
                device: device.into()
            },
            "{name:?}"
        );
    }
}

#[test]
fn names_that_only_resemble_devices_are_accepted() {
    for name in [
        "COM10",
        "LPT",
        "CONSOLE.txt",
        "NULL",
        "auxiliary.doc",
        "my-con.txt",
        "COM1a",
        "LPT⁴",
    ] {
        assert_eq!(SafeFileName::parse(name).unwrap().as_str(), name);
    }
}

#[test]
fn hidden_names_are_refused_including_the_partial_file_prefix() {
    for name in [".bashrc", ".profile", ".assent-partial-abc123", ". x"] {
        assert_eq!(refused(name), FileNameError::Hidden { name: name.into() });
    }
}

#[test]
fn ordinary_names_are_accepted_unchanged_including_a_leading_dash() {
    for name in [
        "report.pdf",
        "-rf",
        "--help.txt",
        "run 2026-11-23 (copy).csv",
        "Ergebnis Ωμέγα 測定.xlsx",
        "a",
        "no_extension",
        " leading space.txt",
    ] {
        let safe = SafeFileName::parse(name).unwrap();
        assert_eq!(safe.as_str(), name);
        assert_eq!(safe.to_string(), name);
        assert_eq!(safe.to_wire().as_str(), name);
    }
}

#[test]
fn error_messages_escape_the_name_so_it_cannot_inject_terminal_codes() {
    let message = refused("a\x1b[2Jb").to_string();
    assert!(!message.contains('\x1b'), "{message:?}");
    assert!(message.contains("control character"), "{message:?}");
}

/// Independent statement of the safety properties (not a call into the
/// implementation), used by the property tests and the fuzz target's spirit.
fn assert_safe_on_linux_and_windows(name: &str) {
    assert!(!name.is_empty() && name.len() <= FILE_NAME_MAX, "{name:?}");
    assert!(
        !name.contains(['/', '\\', ':', '<', '>', '"', '|', '?', '*']),
        "{name:?}"
    );
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!name.starts_with('.'), "{name:?}");
    assert!(!name.ends_with(['.', ' ']), "{name:?}");
    let mut components = Path::new(name).components();
    assert_eq!(
        components.next(),
        Some(Component::Normal(name.as_ref())),
        "{name:?}"
    );
    assert_eq!(components.next(), None, "{name:?}");
    let stem = name.split('.').next().unwrap_or_default();
    let stem = stem.trim_matches(' ').to_uppercase();
    let mut devices: Vec<String> = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
        .map(String::from)
        .to_vec();
    for port in ["COM", "LPT"] {
        for digit in "0123456789¹²³".chars() {
            devices.push(format!("{port}{digit}"));
        }
    }
    assert!(!devices.contains(&stem), "{name:?} is a device");
}

/// Strings built from the characters the rules are about, and device-like
/// names, so every class of refusal (and near misses) is generated often.
fn tricky_name() -> impl Strategy<Value = String> {
    const ALPHABET: &[char] = &[
        'a', 'C', 'O', 'N', 'n', 'P', 'R', 'U', 'X', 'L', 'T', 'M', 'I', '1', '9', '¹', '$', '.',
        ' ', '-', '/', '\\', ':', '\0', '\n', '<', '?', '*', '"', '|', '\u{202E}', 'é', '測',
    ];
    let chars = prop::collection::vec(prop::sample::select(ALPHABET), 0..10);
    let device_like = (
        prop::sample::select(&["con", "PRN", "aUx", "NUL", "COM", "lpt", "CONIN$", "conout"][..]),
        prop::sample::select(&["", "0", "9", "¹", "³", "⁴", "10", "$"][..]),
        prop::sample::select(&["", " ", "  "][..]),
        prop::sample::select(&["", ".txt", ".tar.gz", ".", "a.txt", ":x"][..]),
    )
        .prop_map(|(stem, port, spaces, extension)| format!("{stem}{port}{spaces}{extension}"));
    prop_oneof![chars.prop_map(String::from_iter), device_like]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_accepted_tricky_name_has_no_separator_and_is_not_a_device(name in tricky_name()) {
        if let Ok(safe) = SafeFileName::parse(&name) {
            prop_assert_eq!(safe.as_str(), name.as_str());
            assert_safe_on_linux_and_windows(safe.as_str());
        }
    }

    #[test]
    fn any_accepted_arbitrary_name_is_safe_and_parses_again_to_itself(name in any::<String>()) {
        if let Ok(safe) = SafeFileName::parse(&name) {
            assert_safe_on_linux_and_windows(safe.as_str());
            prop_assert_eq!(SafeFileName::parse(safe.as_str()), Ok(safe));
        }
    }
}
