//! Change propagation between the nodes of a cluster on a PostgreSQL store.
//!
//! # Architecture
//! Every commit appends a `changelog` row (see `store/postgres.rs`). Each node polls the
//! changelog every [`POLL_INTERVAL_MS`] for versions after the one it has applied and, holding
//! the catalog (so no local commit interleaves), reads the touched HTTP/WebSocket APIs' documents
//! again, compiles them and publishes them to its workers through the catalog's own publish path,
//! in version order. A failed poll (PostgreSQL down) changes nothing and is retried: the node
//! keeps serving its last-known-good configuration and catches up by version when the store
//! returns.
//!
//! Not yet here: `LISTEN` on the notification channel (polling alone bounds the delay to one
//! interval), the per-node heartbeat row (the `nodes` table exists), `GET /portico/cluster`,
//! `portico wait`, and propagation of REST APIs, usage plans, IAM, domains and VPC links (other
//! nodes see those at their next start).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{PostgresStore, Store};
use crate::AdminState;

/// How often a node looks for changes committed by others, ms.
pub const POLL_INTERVAL_MS: u64 = 1_000;

/// Follows the changelog from the version `store` was opened at, forever.
pub(crate) async fn follow_loop(state: AdminState, store: Arc<PostgresStore>) {
    let applied = Arc::new(std::sync::atomic::AtomicU64::new(store.opened_version()));
    let mut tick = tokio::time::interval(Duration::from_millis(POLL_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let store = Arc::clone(&store);
        let applied = Arc::clone(&applied);
        let result = state
            .write(move |catalog| {
                use std::sync::atomic::Ordering;
                let from = applied.load(Ordering::Acquire);
                let changes = store.changes_since(from).map_err(crate::ApiError::from)?;
                let Some(last) = changes.last().map(|c| c.0) else {
                    return Ok(());
                };
                let everything = changes.iter().any(|c| c.1.iter().any(|id| id == "*"));
                let (ids, rows) = if everything {
                    let rows: Vec<_> = store
                        .load()
                        .map_err(crate::ApiError::from)?
                        .into_iter()
                        .filter(|r| !r.api_id.starts_with('$'))
                        .collect();
                    let mut ids: BTreeSet<String> = catalog.apis().keys().cloned().collect();
                    ids.extend(rows.iter().map(|r| r.api_id.clone()));
                    (ids, rows)
                } else {
                    let ids: BTreeSet<String> = changes
                        .into_iter()
                        .flat_map(|c| c.1)
                        .filter(|id| !id.starts_with('$'))
                        .collect();
                    let list: Vec<String> = ids.iter().cloned().collect();
                    let rows = store.load_scopes(&list).map_err(crate::ApiError::from)?;
                    (ids, rows)
                };
                catalog.refresh_apis(&ids, rows)?;
                applied.store(last, Ordering::Release);
                tracing::debug!(version = last, apis = ids.len(), "applied cluster changes");
                Ok(())
            })
            .await;
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("cluster store reachable again; caught up");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the cluster store; serving the last-known-good configuration");
            }
            Err(_) => {}
        }
    }
}
