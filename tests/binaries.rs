//! The three programs exist, explain themselves, and speak one protocol version.

mod support;

use std::process::Command;

const PROGRAMS: [&str; 3] = ["assent-relay", "assent-host", "assent-viewer"];

#[test]
fn every_program_explains_itself_with_help() {
    for name in PROGRAMS {
        let out = Command::new(support::binary(name))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Usage:"),
            "{name} --help has no usage line:\n{text}"
        );
        assert!(text.len() > 200, "{name} --help says too little:\n{text}");
    }
}

#[test]
fn every_program_speaks_the_same_protocol_version() {
    let versions: Vec<String> = PROGRAMS
        .iter()
        .map(|name| {
            let out = Command::new(support::binary(name))
                .arg("--protocol-version")
                .output()
                .unwrap();
            assert!(out.status.success(), "{name} --protocol-version failed");
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    assert!(versions.iter().all(|v| v == &versions[0]), "{versions:?}");
    assert_eq!(
        versions[0].trim(),
        format!(
            "assent wire protocol v{}",
            assent_proto::wire::PROTOCOL_VERSION
        )
    );
}

#[test]
fn unknown_option_is_a_clear_error_not_a_crash() {
    for name in PROGRAMS {
        let out = Command::new(support::binary(name))
            .arg("--no-such-option")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("--no-such-option"), "{name}: {err}");
    }
}
