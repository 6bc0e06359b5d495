//! Upgrade utility (R16). Being built; see issue 6.

use anyhow::{bail, Result};

use crate::config::HostFiles;

/// `assent-host upgrade ...`.
#[derive(clap::Subcommand)]
pub enum UpgradeCommand {
    /// Report whether a signed upgrade is available.
    Check,
}

pub async fn run_cli(_files: &HostFiles, _command: UpgradeCommand) -> Result<()> {
    bail!("upgrades are not built yet")
}
