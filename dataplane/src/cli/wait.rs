//! `portico wait`: returns when every live node of a cluster serves a version (the
//! `x-portico-version` a write answered with), for deploy pipelines. It asks any node's admin API
//! (`GET /portico/cluster/wait`), signed like the other commands of this folder.

use std::time::Duration;

use anyhow::bail;

use portico_shared::limits::CLUSTER_WAIT_MAX_S;

use super::{AdminArgs, AdminClient};

#[derive(Debug, clap::Args)]
pub(crate) struct WaitArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// The cluster version to wait for.
    #[arg(long)]
    version: u64,
    /// Seconds to wait at most (up to 300); exits non-zero when some live node still lags.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub(crate) fn run(args: &WaitArgs) -> anyhow::Result<()> {
    if args.timeout > CLUSTER_WAIT_MAX_S {
        bail!("--timeout is at most {CLUSTER_WAIT_MAX_S} seconds");
    }
    let client = AdminClient::from_env(&args.admin.admin)?
        .with_read_timeout(Duration::from_secs(args.timeout + 10));
    let (version, timeout) = (args.version.to_string(), args.timeout.to_string());
    let (status, body) = client.get(
        "/portico/cluster/wait",
        &[("version", &version), ("timeout", &timeout)],
    )?;
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        bail!("the admin API answered {status}: {text}");
    }
    println!("{text}");
    Ok(())
}
