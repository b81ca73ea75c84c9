//! The cluster [`Store`]: PostgreSQL (`serve --store postgres://...`), shared by every node.
//!
//! # Client
//! The synchronous `postgres` crate: the [`Store`] trait is synchronous and the admin side calls
//! it from `spawn_blocking` (or before its runtime starts), so a blocking client fits it without
//! an async trait. One connection behind a mutex (writes are serialized by the admin side
//! anyway); a connection that broke is dropped and opened again on the next call, so a node
//! needs no restart when PostgreSQL comes back. No TLS: the crate is built without a TLS
//! connector, so the store must be reached over loopback, a unix socket or a trusted network
//! (a stated limitation).
//!
//! # Schema
//! Versioned migrations ([`MIGRATIONS`]) applied at start in one transaction under an advisory
//! lock (nodes starting together apply them once), recorded in `schema_migrations`. A node
//! refuses to start against a schema newer than it knows.
//!
//! # Changes
//! [`Store::commit`] applies a batch in one transaction that also appends a `changelog` row
//! (the cluster version, the API ids touched, the time) and `NOTIFY portico_changes, '<version>'`;
//! PostgreSQL delivers the notification only if the transaction commits. The version committed
//! last by this process is [`PostgresStore::last_version`]. A failure to reach PostgreSQL is a
//! [`StoreError::unavailable`] (answered 503); nothing was applied.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, Config, NoTls, Transaction};

use portico_shared::limits::{
    ADMIN_BODY_MAX_BYTES, CLUSTER_NODE_NUMBER_REUSE_AFTER_S, POSTGRES_CONNECT_TIMEOUT_MS,
};

use super::{Change, Kind, Row, Store, StoreError, UsageKind, UsageRow};

/// The notification channel a committed change is announced on (payload: its version).
pub const CHANNEL: &str = "portico_changes";

/// How long connecting waits before the store counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(POSTGRES_CONNECT_TIMEOUT_MS);

/// The schema, one migration per version, in order; never edit a released one, append.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE docs (
         api_id TEXT NOT NULL,
         kind   TEXT NOT NULL,
         id     TEXT NOT NULL,
         doc    TEXT NOT NULL,
         PRIMARY KEY (api_id, kind, id)
     );
     CREATE TABLE usage_days (
         plan_id TEXT NOT NULL,
         key_id  TEXT NOT NULL,
         day     BIGINT NOT NULL,
         used    BIGINT NOT NULL,
         PRIMARY KEY (plan_id, key_id, day)
     );
     CREATE TABLE usage_periods (
         plan_id      TEXT NOT NULL,
         key_id       TEXT NOT NULL,
         period_start BIGINT NOT NULL,
         used         BIGINT NOT NULL,
         PRIMARY KEY (plan_id, key_id, period_start)
     );
     CREATE TABLE changelog (
         version BIGSERIAL PRIMARY KEY,
         api_ids TEXT[] NOT NULL,
         at      TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE nodes (
         node_id        TEXT PRIMARY KEY,
         admin_addr     TEXT NOT NULL,
         data_addr      TEXT NOT NULL,
         served_version BIGINT NOT NULL,
         last_heartbeat TIMESTAMPTZ NOT NULL
     );",
    ),
    (
        2,
        // function_code: self-hosted functions' zips, so every node can unpack a revision it
        // lacks (`lambda/`, `cluster/`).
        "CREATE TABLE function_code (
         function_name TEXT NOT NULL,
         revision      TEXT NOT NULL,
         zip           BYTEA NOT NULL,
         created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
         PRIMARY KEY (function_name, revision)
     );",
    ),
    // WebSocket `@connections` across nodes: each node's number (in its connection ids) and
    // the secret nodes forward calls to each other with (`claim_node_number`, `forward_secret`).
    (
        3,
        "CREATE TABLE node_numbers (
             number     SMALLINT PRIMARY KEY CHECK (number BETWEEN 1 AND 255),
             node_id    TEXT NOT NULL UNIQUE,
             claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );
         CREATE TABLE cluster_secrets (
             name   TEXT PRIMARY KEY,
             secret BYTEA NOT NULL
         );",
    ),
];

/// One node's heartbeat row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: String,
    pub admin_addr: String,
    pub data_addr: String,
    pub served_version: u64,
    /// RFC 3339, UTC.
    pub last_heartbeat: String,
    /// How long ago, by PostgreSQL's clock (no clock skew between nodes involved).
    pub heartbeat_age_ms: u64,
}

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    config: Config,
    /// This node's own directory: self-hosted functions unpack their code under it.
    data_dir: PathBuf,
    /// `None` after a connection broke, until the next call opens a new one.
    client: Mutex<Option<Client>>,
    /// The cluster version of this process's last commit (0 before the first).
    last_version: AtomicU64,
    /// The cluster version when the store was opened: what the node's first load holds at least.
    opened_version: u64,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration may hold a password: name the databases only.
        f.debug_struct("PostgresStore")
            .field("dbname", &self.config.get_dbname())
            .field("last_version", &self.last_version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// === impl PostgresStore ===

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db` or `host=... port=...`) and brings the
    /// schema up to date. Fails when PostgreSQL cannot be reached or its schema is newer than
    /// this build's.
    pub fn open(url: &str, data_dir: &Path) -> Result<PostgresStore, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError(format!("--store {url:?}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("portico");
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError(format!("create {}: {e}", data_dir.display())))?;
        let store = PostgresStore {
            config,
            data_dir: data_dir.to_path_buf(),
            client: Mutex::new(None),
            last_version: AtomicU64::new(0),
            opened_version: 0,
        };
        let applied = store.with_client(migrate)?;
        if applied > schema_version() {
            return Err(StoreError(format!(
                "the PostgreSQL store's schema is version {applied}, newer than this build \
                 understands ({}): upgrade this node",
                schema_version()
            )));
        }
        let version = store.current_version()?;
        store.last_version.store(version, Ordering::Release);
        Ok(PostgresStore {
            opened_version: version,
            ..store
        })
    }

    /// The cluster version of this process's last commit (or the cluster's at open).
    pub fn last_version(&self) -> u64 {
        self.last_version.load(Ordering::Acquire)
    }

    /// The cluster version when the store was opened (read before the node's first load, so
    /// that load holds every change up to it).
    pub fn opened_version(&self) -> u64 {
        self.opened_version
    }

    /// The highest committed cluster version.
    pub fn current_version(&self) -> Result<u64, StoreError> {
        self.with_client(|c| {
            let row = c.query_one("SELECT COALESCE(MAX(version), 0) FROM changelog", &[])?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    /// The committed changes after `version`, in version order: each version and the scopes
    /// (API ids, `$` scopes, `*` for everything) it touched.
    pub fn changes_since(&self, version: u64) -> Result<Vec<(u64, Vec<String>)>, StoreError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT version, api_ids FROM changelog WHERE version > $1 ORDER BY version",
                &[&(version as i64)],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<_, i64>(0).max(0) as u64, r.get(1)))
            .collect())
    }

    /// Every document of the scopes `api_ids`, in `(api_id, kind, id)` order.
    pub fn load_scopes(&self, api_ids: &[String]) -> Result<Vec<Row>, StoreError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT api_id, kind, id, doc FROM docs WHERE api_id = ANY($1)
                 ORDER BY api_id, kind, id",
                &[&api_ids],
            )
        })?;
        rows.into_iter().map(parse_row).collect()
    }

    /// Listens on [`CHANNEL`] on a connection of its own and calls `on` for each notification
    /// (a committed change), until the connection breaks. Blocking.
    pub fn listen(&self, on: impl Fn()) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let mut client = self.config.connect(NoTls).map_err(pg)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(pg)?;
        // Changes committed before LISTEN took effect are found by the caller's next poll.
        on();
        let mut notifications = client.notifications();
        let mut iter = notifications.blocking_iter();
        while iter.next().map_err(pg)?.is_some() {
            on();
        }
        Err(StoreError::unavailable(
            "PostgreSQL: the LISTEN connection closed",
        ))
    }

    /// Records this node's heartbeat: its addresses and the version it serves.
    pub fn heartbeat(
        &self,
        node_id: &str,
        admin_addr: &str,
        data_addr: &str,
        served: u64,
    ) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO nodes (node_id, admin_addr, data_addr, served_version, last_heartbeat)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (node_id) DO UPDATE SET admin_addr = EXCLUDED.admin_addr,
                     data_addr = EXCLUDED.data_addr, served_version = EXCLUDED.served_version,
                     last_heartbeat = EXCLUDED.last_heartbeat",
                &[&node_id, &admin_addr, &data_addr, &(served as i64)],
            )
            .map(drop)
        })
    }

    /// Every node's heartbeat row and the cluster's current version.
    pub fn nodes(&self) -> Result<(u64, Vec<NodeRow>), StoreError> {
        self.with_client(|c| {
            let current: i64 = c
                .query_one("SELECT COALESCE(MAX(version), 0) FROM changelog", &[])?
                .get(0);
            let rows = c.query(
                "SELECT node_id, admin_addr, data_addr, served_version,
                        to_char(last_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                        (EXTRACT(EPOCH FROM (now() - last_heartbeat)) * 1000)::BIGINT
                 FROM nodes ORDER BY node_id",
                &[],
            )?;
            Ok((
                current.max(0) as u64,
                rows.into_iter()
                    .map(|r| NodeRow {
                        node_id: r.get(0),
                        admin_addr: r.get(1),
                        data_addr: r.get(2),
                        served_version: r.get::<_, i64>(3).max(0) as u64,
                        last_heartbeat: r.get(4),
                        heartbeat_age_ms: r.get::<_, i64>(5).max(0) as u64,
                    })
                    .collect(),
            ))
        })
    }

    /// This node's number (1 to 255, in its WebSocket connection ids): the one it held before
    /// under the same `node_id`, else the lowest free one. A number is free again once its node
    /// has not beaten for [`CLUSTER_NODE_NUMBER_REUSE_AFTER_S`] (ids naming it are long gone by then).
    pub fn claim_node_number(&self, node_id: &str) -> Result<u8, StoreError> {
        let number = self.with_client(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(7201021)", &[])?;
            let held = tx.query_opt(
                "UPDATE node_numbers SET claimed_at = now() WHERE node_id = $1 RETURNING number",
                &[&node_id],
            )?;
            if let Some(row) = held {
                let n: i16 = row.get(0);
                tx.commit()?;
                return Ok(Some(n));
            }
            tx.execute(
                "DELETE FROM node_numbers n
                 WHERE n.claimed_at < now() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM nodes d WHERE d.node_id = n.node_id
                                   AND d.last_heartbeat >= now() - make_interval(secs => $1))",
                &[&(CLUSTER_NODE_NUMBER_REUSE_AFTER_S as f64)],
            )?;
            let free = tx.query_opt(
                "INSERT INTO node_numbers (number, node_id)
                 SELECT g, $1 FROM generate_series(1, 255) g
                 WHERE g NOT IN (SELECT number FROM node_numbers) ORDER BY g LIMIT 1
                 RETURNING number",
                &[&node_id],
            )?;
            tx.commit()?;
            Ok(free.map(|r| r.get::<_, i16>(0)))
        })?;
        match number.and_then(|n| u8::try_from(n).ok()) {
            Some(n) => Ok(n),
            None => Err(StoreError(format!(
                "every node number (1 to 255) is held by a node that beat within the last \
                 {CLUSTER_NODE_NUMBER_REUSE_AFTER_S} s"
            ))),
        }
    }

    /// The secret nodes authenticate forwarded `@connections` calls with: generated by the
    /// first node that asks (`fresh`, 32 random bytes), read by the others.
    pub fn forward_secret(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO cluster_secrets (name, secret) VALUES ('forward', $1)
                 ON CONFLICT (name) DO NOTHING",
                &[&fresh],
            )?;
            let row = c.query_one(
                "SELECT secret FROM cluster_secrets WHERE name = 'forward'",
                &[],
            )?;
            Ok(row.get(0))
        })
    }

    /// Every numbered node: its number, data plane address and heartbeat age (ms).
    pub fn node_directory(&self) -> Result<Vec<(u8, String, u64)>, StoreError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT n.number, d.data_addr,
                        (EXTRACT(EPOCH FROM (now() - d.last_heartbeat)) * 1000)::BIGINT
                 FROM node_numbers n JOIN nodes d ON d.node_id = n.node_id",
                &[],
            )
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let n = u8::try_from(r.get::<_, i16>(0)).ok()?;
                Some((n, r.get(1), r.get::<_, i64>(2).max(0) as u64))
            })
            .collect())
    }

    /// Runs `f` on the connection, opening one first if needed; drops a connection that broke.
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            let client = self.config.connect(NoTls).map_err(pg)?;
            *slot = Some(client);
        }
        let Some(client) = slot.as_mut() else {
            return Err(StoreError::unavailable("no connection"));
        };
        let out = f(client);
        if let Err(e) = &out {
            if client.is_closed() || e.as_db_error().is_none() {
                *slot = None;
            }
        }
        out.map_err(pg)
    }
}

impl Store for PostgresStore {
    fn data_dir(&self) -> Option<&Path> {
        Some(&self.data_dir)
    }

    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT api_id, kind, id, doc FROM docs ORDER BY api_id, kind, id",
                &[],
            )
        })?;
        rows.into_iter().map(parse_row).collect()
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let version = self.with_client(|c| {
            let mut tx = c.transaction()?;
            for change in changes {
                apply(&mut tx, change)?;
            }
            let touched: Vec<String> = touched(changes).into_iter().collect();
            let row = tx.query_one(
                "INSERT INTO changelog (api_ids) VALUES ($1) RETURNING version",
                &[&touched],
            )?;
            let version: i64 = row.get(0);
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &version.to_string()],
            )?;
            tx.commit()?;
            Ok(version)
        })?;
        self.last_version
            .fetch_max(version.max(0) as u64, Ordering::AcqRel);
        Ok(())
    }

    fn load_code(&self, function: &str, revision: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // Bounded like the upload it came from (an admin request body), checked before the
        // bytes are read.
        let max = ADMIN_BODY_MAX_BYTES as i64;
        let row = self.with_client(|c| {
            c.query_opt(
                "SELECT octet_length(zip)::BIGINT,
                        CASE WHEN octet_length(zip) <= $3::BIGINT THEN zip END
                 FROM function_code WHERE function_name = $1 AND revision = $2",
                &[&function, &revision, &max],
            )
        })?;
        match row {
            None => Ok(None),
            Some(r) => match r.get::<_, Option<Vec<u8>>>(1) {
                Some(zip) => Ok(Some(zip)),
                None => Err(StoreError(format!(
                    "function {function} revision {revision}: stored code of {} bytes is over \
                     the {max} bytes bound",
                    r.get::<_, i64>(0)
                ))),
            },
        }
    }

    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let day = tx.prepare(
                "INSERT INTO usage_days (plan_id, key_id, day, used) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (plan_id, key_id, day) DO UPDATE SET used = EXCLUDED.used",
            )?;
            let period = tx.prepare(
                "INSERT INTO usage_periods (plan_id, key_id, period_start, used)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (plan_id, key_id, period_start) DO UPDATE SET used = EXCLUDED.used",
            )?;
            for r in rows {
                let stmt = match r.kind {
                    UsageKind::Day => &day,
                    UsageKind::Period => &period,
                };
                tx.execute(stmt, &[&r.plan_id, &r.key_id, &(r.day as i64), &r.used])?;
            }
            tx.commit()
        })
    }

    fn load_usage(
        &self,
        plan_id: &str,
        from_day: u64,
        to_day: u64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let (from, to) = (from_day as i64, to_day as i64);
        self.with_client(|c| {
            let mut out = Vec::new();
            for (kind, sql) in [
                (
                    UsageKind::Day,
                    "SELECT key_id, day, used FROM usage_days
                     WHERE plan_id = $1 AND day BETWEEN $2 AND $3",
                ),
                (
                    UsageKind::Period,
                    "SELECT key_id, period_start, used FROM usage_periods
                     WHERE plan_id = $1 AND period_start BETWEEN $2 AND $3",
                ),
            ] {
                for r in c.query(sql, &[&plan_id, &from, &to])? {
                    out.push(UsageRow {
                        plan_id: plan_id.to_string(),
                        key_id: r.get(0),
                        kind,
                        day: r.get::<_, i64>(1).max(0) as u64,
                        used: r.get(2),
                    });
                }
            }
            Ok(out)
        })
    }
}

/// A `docs` row (`api_id, kind, id, doc`) as a [`Row`].
fn parse_row(r: postgres::Row) -> Result<Row, StoreError> {
    let kind: String = r.get(1);
    let kind =
        Kind::parse(&kind).ok_or_else(|| StoreError(format!("unknown document kind {kind:?}")))?;
    Ok(Row {
        api_id: r.get(0),
        kind,
        id: r.get(2),
        doc: r.get(3),
    })
}

/// One change inside the commit's transaction.
fn apply(tx: &mut Transaction<'_>, change: &Change) -> Result<(), postgres::Error> {
    match change {
        Change::Put(r) => tx.execute(
            "INSERT INTO docs (api_id, kind, id, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (api_id, kind, id) DO UPDATE SET doc = EXCLUDED.doc",
            &[&r.api_id, &r.kind.as_str(), &r.id, &r.doc],
        ),
        Change::Delete { api_id, kind, id } => tx.execute(
            "DELETE FROM docs WHERE api_id = $1 AND kind = $2 AND id = $3",
            &[api_id, &kind.as_str(), id],
        ),
        Change::DeleteApi { api_id } => tx.execute("DELETE FROM docs WHERE api_id = $1", &[api_id]),
        Change::DeleteAll => tx.execute("DELETE FROM docs WHERE left(api_id, 1) <> '$'", &[]),
        Change::PutCode {
            function,
            revision,
            zip,
        } => tx.execute(
            "INSERT INTO function_code (function_name, revision, zip) VALUES ($1, $2, $3)
             ON CONFLICT (function_name, revision) DO UPDATE SET zip = EXCLUDED.zip",
            &[function, revision, &&*zip.0],
        ),
        Change::DeleteCode { function, keep } => tx.execute(
            "DELETE FROM function_code
             WHERE function_name = $1 AND ($2::TEXT IS NULL OR revision <> $2)",
            &[function, keep],
        ),
        Change::ForgetUsage { plan_id, key_id } => tx
            .execute(
                "DELETE FROM usage_days WHERE plan_id = $1 AND ($2::TEXT IS NULL OR key_id = $2)",
                &[plan_id, key_id],
            )
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM usage_periods
                     WHERE plan_id = $1 AND ($2::TEXT IS NULL OR key_id = $2)",
                    &[plan_id, key_id],
                )
            }),
    }
    .map(drop)
}

/// The scopes (API ids, `$` scopes) a batch touches; `*` for [`Change::DeleteAll`].
fn touched(changes: &[Change]) -> BTreeSet<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::Put(r) => r.api_id.clone(),
            Change::Delete { api_id, .. } | Change::DeleteApi { api_id } => api_id.clone(),
            Change::DeleteAll => "*".to_string(),
            Change::ForgetUsage { .. } => super::USAGE_SCOPE.to_string(),
            Change::PutCode { .. } | Change::DeleteCode { .. } => super::LAMBDA_SCOPE.to_string(),
        })
        .collect()
}

/// Applies the migrations this build knows that the database lacks, in one transaction under
/// an advisory lock; refuses a database whose schema is newer.
fn migrate(c: &mut Client) -> Result<i32, postgres::Error> {
    let mut tx = c.transaction()?;
    // One key for Portico's migrations: nodes starting at once apply them one after the other.
    tx.execute("SELECT pg_advisory_xact_lock(7201020)", &[])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if applied > schema_version() {
        // Left as it is: the caller refuses to start.
        return Ok(applied);
    }
    for (version, sql) in MIGRATIONS {
        if *version > applied {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[version],
            )?;
        }
    }
    tx.commit()?;
    Ok(applied)
}

/// The schema version this build knows.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// A PostgreSQL error: unavailable (503) when the server could not be reached or the connection
/// broke, else a store failure (500).
fn pg(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
        Some(db) if db.code().code().starts_with("57P") => {
            StoreError::unavailable(&format!("PostgreSQL: {}", db.message()))
        }
        Some(db) => StoreError(format!(
            "PostgreSQL: {} ({}): {}",
            db.severity(),
            db.code().code(),
            db.message()
        )),
        // `postgres::Error`'s own text omits its cause (the I/O error); name both.
        None => StoreError::unavailable(&match std::error::Error::source(&e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        }),
    }
}
