//! The embedded default [`Store`]: one SQLite file in WAL mode, compiled into the binary
//! (`rusqlite` with `bundled`), so a gateway needs no database server.
//!
//! # Durability
//! The database runs with `journal_mode=WAL` and `synchronous=NORMAL`. A commit appends the
//! transaction to the write-ahead log with `write(2)` before [`Store::commit`] returns, so once
//! the admin API has answered 2xx the change is in the kernel's page cache: a crash of the
//! process (`kill -9`, a panic, an OOM kill) cannot lose it, and the next start replays the log.
//! What `NORMAL` gives up is the `fsync` per commit: an operating-system crash or a power cut may
//! lose the last transactions (never corrupt the database). That is the promise we make: "2xx
//! survives a process crash". Machines that must survive power loss too can open the store with
//! [`SqliteStore::open_with`] and `synchronous=FULL` (one `fsync` of the log per commit).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use portico_shared::limits::SQLITE_BUSY_TIMEOUT_MS;

use super::{Change, Kind, Row, Store, StoreError, UsageKind, UsageRow};

/// The file inside the data directory.
pub const DB_FILE: &str = "portico.db";

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// SQLite's `synchronous` setting: how often the log is flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Survives process crashes; the default (see the module docs).
    Normal,
    /// Survives power loss too: one `fsync` per commit.
    Full,
}

/// A [`Store`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    /// `rusqlite::Connection` is `Send` but not `Sync`; writes are serialized by the admin side
    /// anyway, so one connection behind a mutex is all it takes.
    conn: Mutex<Connection>,
    /// Where the database lives, for messages.
    path: PathBuf,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating if needed) `dir/portico.db` with the default durability.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(dir, SyncMode::Normal)
    }

    pub fn open_with(dir: &Path, sync: SyncMode) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("create {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| db(&path, e))?;
        conn.busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
            .map_err(|e| db(&path, e))?;
        // One gateway per data directory: the exclusive lock is taken at the first read below
        // and held until the process exits (the kernel drops it on `kill -9`), so a second
        // gateway on the same directory fails to start instead of diverging from the first.
        // Set before WAL mode so SQLite keeps the WAL index in heap memory, not a -shm file.
        conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE;")
            .map_err(|e| db(&path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| db(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "{}: could not switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        let sync = match sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous={sync};"))
            .map_err(|e| db(&path, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db(&path, e))?;
        match version {
            0 => {
                conn.execute_batch(
                    "BEGIN;
                     CREATE TABLE IF NOT EXISTS docs (
                         api_id TEXT NOT NULL,
                         kind   TEXT NOT NULL,
                         id     TEXT NOT NULL,
                         doc    TEXT NOT NULL,
                         PRIMARY KEY (api_id, kind, id)
                     ) WITHOUT ROWID;
                     PRAGMA user_version = 1;
                     COMMIT;",
                )
                .map_err(|e| db(&path, e))?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(StoreError(format!(
                    "{}: schema version {other} is newer than this build understands ({SCHEMA_VERSION})",
                    path.display()
                )))
            }
        }
        // Usage counts (added after version 1; an older build ignores these tables).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS usage_days (
                 plan_id TEXT NOT NULL,
                 key_id  TEXT NOT NULL,
                 day     INTEGER NOT NULL,
                 used    INTEGER NOT NULL,
                 PRIMARY KEY (plan_id, key_id, day)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS usage_periods (
                 plan_id      TEXT NOT NULL,
                 key_id       TEXT NOT NULL,
                 period_start INTEGER NOT NULL,
                 used         INTEGER NOT NULL,
                 PRIMARY KEY (plan_id, key_id, period_start)
             ) WITHOUT ROWID;",
        )
        .map_err(|e| db(&path, e))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `synchronous` setting in force (0 OFF, 1 NORMAL, 2 FULL), for tests.
    pub fn synchronous(&self) -> Result<i64, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(|e| db(&self.path, e))
    }

    /// One document, for tests and tools.
    pub fn get(&self, api_id: &str, kind: Kind, id: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT doc FROM docs WHERE api_id = ?1 AND kind = ?2 AND id = ?3",
            params![api_id, kind.as_str(), id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| db(&self.path, e))
    }
}

impl Store for SqliteStore {
    fn data_dir(&self) -> Option<&Path> {
        self.path.parent()
    }

    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn
            .prepare("SELECT api_id, kind, id, doc FROM docs ORDER BY api_id, kind, id")
            .map_err(|e| db(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| db(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (api_id, kind, id, doc) = row.map_err(|e| db(&self.path, e))?;
            let kind = Kind::parse(&kind).ok_or_else(|| {
                StoreError(format!(
                    "{}: unknown document kind {kind:?}",
                    self.path.display()
                ))
            })?;
            out.push(Row {
                api_id,
                kind,
                id,
                doc,
            });
        }
        Ok(out)
    }

    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(|e| db(&self.path, e))?;
        {
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO docs (api_id, kind, id, doc) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| db(&self.path, e))?;
            let mut delete = tx
                .prepare("DELETE FROM docs WHERE api_id = ?1 AND kind = ?2 AND id = ?3")
                .map_err(|e| db(&self.path, e))?;
            for change in changes {
                let done = match change {
                    Change::Put(row) => put
                        .execute(params![row.api_id, row.kind.as_str(), row.id, row.doc])
                        .map(drop),
                    Change::Delete { api_id, kind, id } => {
                        delete.execute(params![api_id, kind.as_str(), id]).map(drop)
                    }
                    Change::DeleteApi { api_id } => tx
                        .execute("DELETE FROM docs WHERE api_id = ?1", params![api_id])
                        .map(drop),
                    Change::DeleteAll => tx
                        .execute("DELETE FROM docs WHERE substr(api_id, 1, 1) <> '$'", [])
                        .map(drop),
                    Change::ForgetUsage { plan_id, key_id } => tx
                        .execute(
                            "DELETE FROM usage_days WHERE plan_id = ?1 AND (?2 IS NULL OR key_id = ?2)",
                            params![plan_id, key_id],
                        )
                        .and_then(|_| {
                            tx.execute(
                                "DELETE FROM usage_periods
                                 WHERE plan_id = ?1 AND (?2 IS NULL OR key_id = ?2)",
                                params![plan_id, key_id],
                            )
                        })
                        .map(drop),
                    // One node: the unpacked revision directory is the code's only copy.
                    Change::PutCode { .. } | Change::DeleteCode { .. } => Ok(()),
                };
                done.map_err(|e| db(&self.path, e))?;
            }
        }
        // Dropping `tx` without this commit rolls everything back.
        tx.commit().map_err(|e| db(&self.path, e))
    }

    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(|e| db(&self.path, e))?;
        {
            let mut day = tx
                .prepare(
                    "INSERT OR REPLACE INTO usage_days (plan_id, key_id, day, used)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| db(&self.path, e))?;
            let mut period = tx
                .prepare(
                    "INSERT OR REPLACE INTO usage_periods (plan_id, key_id, period_start, used)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| db(&self.path, e))?;
            for r in rows {
                let stmt = match r.kind {
                    UsageKind::Day => &mut day,
                    UsageKind::Period => &mut period,
                };
                stmt.execute(params![r.plan_id, r.key_id, r.day as i64, r.used])
                    .map_err(|e| db(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| db(&self.path, e))
    }

    fn load_usage(
        &self,
        plan_id: &str,
        from_day: u64,
        to_day: u64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (kind, sql) in [
            (
                UsageKind::Day,
                "SELECT key_id, day, used FROM usage_days
                 WHERE plan_id = ?1 AND day BETWEEN ?2 AND ?3",
            ),
            (
                UsageKind::Period,
                "SELECT key_id, period_start, used FROM usage_periods
                 WHERE plan_id = ?1 AND period_start BETWEEN ?2 AND ?3",
            ),
        ] {
            let mut stmt = conn.prepare(sql).map_err(|e| db(&self.path, e))?;
            let rows = stmt
                .query_map(params![plan_id, from_day as i64, to_day as i64], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| db(&self.path, e))?;
            for row in rows {
                let (key_id, day, used) = row.map_err(|e| db(&self.path, e))?;
                out.push(UsageRow {
                    plan_id: plan_id.to_string(),
                    key_id,
                    kind,
                    day: day.max(0) as u64,
                    used,
                });
            }
        }
        Ok(out)
    }
}

fn db(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(api: &str, kind: Kind, id: &str, doc: &str) -> Row {
        Row {
            api_id: api.into(),
            kind,
            id: id.into(),
            doc: doc.into(),
        }
    }

    #[test]
    fn commit_load_reopen() {
        let dir = std::env::temp_dir().join(format!(
            "portico-store-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = SqliteStore::open(&dir).unwrap();
            assert_eq!(s.synchronous().unwrap(), 1, "NORMAL");
            s.commit(&[
                Change::Put(row("a", Kind::Api, "a", "{}")),
                Change::Put(row("a", Kind::Route, "r1", "{\"x\":1}")),
                Change::Put(row("b", Kind::Api, "b", "{}")),
            ])
            .unwrap();
            s.commit(&[Change::Delete {
                api_id: "a".into(),
                kind: Kind::Route,
                id: "r1".into(),
            }])
            .unwrap();
            assert_eq!(s.get("a", Kind::Route, "r1").unwrap(), None);
        }
        let s = SqliteStore::open(&dir).unwrap();
        let rows = s.load().unwrap();
        assert_eq!(
            rows,
            vec![
                row("a", Kind::Api, "a", "{}"),
                row("b", Kind::Api, "b", "{}")
            ]
        );
        s.commit(&[Change::DeleteApi { api_id: "a".into() }])
            .unwrap();
        assert_eq!(s.load().unwrap().len(), 1);
        s.commit(&[Change::DeleteAll]).unwrap();
        assert!(s.load().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn usage_rows_and_the_usage_scope() {
        let dir = std::env::temp_dir().join(format!(
            "portico-store-usage-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let usage = |key: &str, kind, day, used| UsageRow {
            plan_id: "p1".into(),
            key_id: key.into(),
            kind,
            day,
            used,
        };
        {
            let s = SqliteStore::open(&dir).unwrap();
            s.put_usage(&[
                usage("k1", UsageKind::Day, 100, 5),
                usage("k1", UsageKind::Day, 101, 7),
                usage("k2", UsageKind::Day, 101, 1),
                usage("k1", UsageKind::Period, 100, -3),
            ])
            .unwrap();
            s.put_usage(&[usage("k1", UsageKind::Day, 101, 8)]).unwrap();
            s.commit(&[
                Change::Put(row(crate::store::USAGE_SCOPE, Kind::ApiKey, "k1", "{}")),
                Change::Put(row("a", Kind::Api, "a", "{}")),
            ])
            .unwrap();
        }
        let s = SqliteStore::open(&dir).unwrap();
        let mut rows = s.load_usage("p1", 101, 200).unwrap();
        rows.sort_by(|a, b| (&a.key_id, a.day).cmp(&(&b.key_id, b.day)));
        assert_eq!(
            rows,
            vec![
                usage("k1", UsageKind::Day, 101, 8),
                usage("k2", UsageKind::Day, 101, 1)
            ]
        );
        assert_eq!(s.load_usage("p1", 0, 100).unwrap().len(), 2);
        assert!(s.load_usage("p2", 0, 1000).unwrap().is_empty());
        // Replacing every API spares the usage scope.
        s.commit(&[Change::DeleteAll]).unwrap();
        assert_eq!(s.load().unwrap().len(), 1);
        s.commit(&[Change::ForgetUsage {
            plan_id: "p1".into(),
            key_id: Some("k1".into()),
        }])
        .unwrap();
        assert_eq!(
            s.load_usage("p1", 0, 1000).unwrap(),
            vec![usage("k2", UsageKind::Day, 101, 1)]
        );
        s.commit(&[Change::ForgetUsage {
            plan_id: "p1".into(),
            key_id: None,
        }])
        .unwrap();
        assert!(s.load_usage("p1", 0, 1000).unwrap().is_empty());
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
