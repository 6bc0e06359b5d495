//! `assent-host run`: the always-on service. It keeps an outbound connection
//! to the relay (R1; it never listens), so the host shows as online (R13),
//! refreshes and verifies the signed allowlist (R7), and reconnects with
//! exponential backoff when the relay goes away.

use std::time::Duration;

use anyhow::Result;
use tracing::warn;

use crate::config::HostFiles;
use crate::relay_link::{fetch_allowlist, login};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const ALLOWLIST_REFRESH: Duration = Duration::from_secs(300);

/// `assent-host run`.
#[derive(clap::Args, Default)]
pub struct RunArgs {}

pub async fn run(files: &HostFiles, _args: RunArgs) -> Result<()> {
    let config = files.load_config()?;
    let identity = files.load_identity()?;
    let operator = files.load_operator_key()?;
    let target = config.relay_target()?;
    let mut backoff = BACKOFF_FIRST;
    loop {
        let session = async {
            let mut client = login(&target, &identity, &config.host_id).await?;
            let list = fetch_allowlist(&mut client, &operator).await?;
            println!(
                "online as {} (allowlist serial {}, {} engineer(s))",
                config.host_id,
                list.serial(),
                list.entries().len()
            );
            backoff = BACKOFF_FIRST;
            loop {
                tokio::select! {
                    closed = client.connection.closed() => {
                        anyhow::bail!("connection to the relay lost: {closed}");
                    }
                    _ = tokio::time::sleep(ALLOWLIST_REFRESH) => {
                        let list = fetch_allowlist(&mut client, &operator).await?;
                        tracing::info!(serial = list.serial(), "allowlist refreshed");
                    }
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), anyhow::Error>(())
        };
        tokio::select! {
            result = session => {
                if let Err(e) = result {
                    warn!(error = %format!("{e:#}"), "relay connection");
                    println!("offline: {e:#}; reconnecting in {} s", backoff.as_secs());
                }
            }
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
