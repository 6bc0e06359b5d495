//! The host's notification intake (R15) reads lines from any local program:
//! arbitrary bytes never panic `parse_intake`, and an accepted raise keeps
//! only texts that are safe to show and fit their wire bounds.
#![no_main]

use assent_proto::messages::notification::{DETAIL_MAX, NOTIFICATION_ID_MAX, TITLE_MAX};
use assent_proto::notification_intake::{parse_intake, IntakeRequest, INTAKE_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse_intake(data) else {
        return;
    };
    assert!(data.len() <= INTAKE_MAX);
    let safe = |s: &str| !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    match request {
        IntakeRequest::Clear { id } => {
            assert!(!id.is_empty() && id.len() <= NOTIFICATION_ID_MAX);
        }
        IntakeRequest::Raise(n) => {
            assert!(!n.id.is_empty() && n.id.len() <= NOTIFICATION_ID_MAX);
            assert!(n.title.len() <= TITLE_MAX && !n.title.trim().is_empty());
            assert!(n.detail.len() <= DETAIL_MAX);
            assert!(safe(&n.title) && safe(&n.detail));
            assert!(n.id.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
});
