//! The highest allowlist serial this host has accepted, kept in its data
//! directory, so that a relay replaying an older signed list (still valid,
//! still signed by the operator) cannot re-admit an engineer the operator
//! removed since (R7, R21).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use assent_proto::allowlist::VerifiedAllowList;

use crate::anchor_files;
use crate::config::HostFiles;

/// The file in the data directory: the serial in decimal, one line.
pub const ALLOWLIST_SERIAL_FILE: &str = "allowlist-serial";

/// Where the accepted serial is kept.
pub struct AcceptedSerial {
    files: HostFiles,
    path: PathBuf,
}

impl AcceptedSerial {
    pub fn of(files: &HostFiles) -> Self {
        Self {
            files: HostFiles::new(files.dir.clone()),
            path: files.dir.join(ALLOWLIST_SERIAL_FILE),
        }
    }

    /// The highest serial accepted so far; 0 before the first list.
    pub fn highest(&self) -> Result<u64> {
        // A serial another user could lower would reopen the rollback.
        let Some(bytes) = self.files.read_anchor(&self.path, 64)? else {
            return Ok(0);
        };
        let text = String::from_utf8_lossy(&bytes);
        match text.trim().parse() {
            Ok(serial) => Ok(serial),
            // Unreadable is not "none": that would reopen the rollback.
            Err(_) => bail!(
                "{} does not hold an allowlist serial ({:?}); it records the newest engineer list \
                 this host accepted. If the data directory was damaged, write the operator's \
                 current serial into it (`assent-relay allowlist list` shows it)",
                self.path.display(),
                text.trim()
            ),
        }
    }

    /// Accepts `list` if it is not older than any list accepted before, and
    /// remembers its serial; refuses a rollback.
    pub fn accept(&self, list: &VerifiedAllowList) -> Result<()> {
        let highest = self.highest()?;
        list.check_not_older_than(highest).context(
            "the relay served an older engineer allowlist than this host already accepted \
             (a relay replaying an old list could re-admit a removed engineer)",
        )?;
        if list.serial() > highest {
            anchor_files::write(&self.path, format!("{}\n", list.serial()).as_bytes())
                .with_context(|| format!("recording allowlist serial {}", list.serial()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use assent_proto::allowlist::AllowList;
    use assent_proto::wire::List;
    use rand_core::OsRng;

    use super::*;
    use crate::relay_link::now_unix;

    fn signed(serial: u64) -> VerifiedAllowList {
        let now = now_unix();
        let operator = assent_proto::test_keys::operator();
        AllowList {
            serial,
            issued_unix: now - 60,
            expires_unix: now + 3600,
            entries: List::new(Vec::new()).unwrap(),
        }
        .sign(operator, &mut OsRng)
        .verify(operator.public(), now)
        .unwrap()
    }

    #[test]
    fn an_older_list_than_one_accepted_before_is_refused_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let files = HostFiles::new(dir.path().to_owned());
        let (two, three) = (signed(2), signed(3));
        assert_eq!(AcceptedSerial::of(&files).highest().unwrap(), 0);
        AcceptedSerial::of(&files).accept(&two).unwrap();
        AcceptedSerial::of(&files).accept(&three).unwrap();
        // A new process, as after a restart: the serial came from disk.
        let again = AcceptedSerial::of(&files);
        assert_eq!(again.highest().unwrap(), 3);
        let refused = again.accept(&two).unwrap_err();
        assert!(
            format!("{refused:#}").contains("serial 2 is older than the list in use (serial 3)"),
            "{refused:#}"
        );
        again.accept(&three).expect("the same list again is fine");
        assert_eq!(again.highest().unwrap(), 3);
    }

    #[test]
    fn an_unreadable_serial_fails_closed_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let files = HostFiles::new(dir.path().to_owned());
        std::fs::write(dir.path().join(ALLOWLIST_SERIAL_FILE), "garbage").unwrap();
        let refused = AcceptedSerial::of(&files).accept(&signed(9)).unwrap_err();
        assert!(
            format!("{refused:#}").contains("allowlist list"),
            "{refused:#}"
        );
    }
}
