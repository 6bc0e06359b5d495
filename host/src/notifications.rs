//! Notification client (R15). Being built; see issue 6.

use anyhow::{bail, Result};

use crate::config::HostFiles;

/// `assent-host notifications`.
#[derive(clap::Args)]
pub struct NotificationsArgs {}

pub async fn run_cli(_files: &HostFiles, _args: NotificationsArgs) -> Result<()> {
    bail!("notifications are not built yet")
}
