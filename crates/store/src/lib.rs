#![forbid(unsafe_code)]
//! The metadata database: one SQLite file (`berth.db`) in WAL mode, shared by the
//! image store and the container, network and volume stores. Each owner keeps its own
//! tables, but all of the schema is created here, by numbered migrations run at open.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

/// Errors of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("migrating metadata database to schema version {version}: {source}")]
    Migrate {
        version: usize,
        #[source]
        source: rusqlite::Error,
    },
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Schema migrations, applied in order; the index + 1 is the schema version
/// (`PRAGMA user_version`). Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: images, tags, containers, generic key/value.
    r#"
    CREATE TABLE images (
        id TEXT PRIMARY KEY,          -- sha256:<hex> of the config
        config BLOB NOT NULL,         -- the image config JSON as stored
        manifest_digest TEXT,         -- digest of the manifest it came from, if any
        created_at TEXT NOT NULL,     -- RFC 3339, when it entered this store
        size INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE tags (
        name TEXT PRIMARY KEY,        -- normalized: docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE TABLE digests (
        name TEXT PRIMARY KEY,        -- normalized repo@sha256:...
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,    -- OCI chain id of the layer stack ending here
        diff_id TEXT NOT NULL,        -- sha256 of the uncompressed layer tar
        parent TEXT,                  -- chain id of the parent, NULL for a base layer
        dir TEXT NOT NULL,            -- short snapshot id (directory under overlay/)
        size INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        data BLOB NOT NULL            -- JSON owned by the daemon crate
    );
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    "#,
    // 2: the image crate's tables. Databases made before this migration already have
    // them (the image crate used to create them when it opened), hence IF NOT EXISTS.
    r#"
    CREATE TABLE IF NOT EXISTS image_layer_blobs (
        diff_id TEXT PRIMARY KEY,     -- sha256 of the uncompressed layer tar
        digest TEXT NOT NULL,         -- the blob as received (maybe compressed)
        media_type TEXT NOT NULL,     -- OCI layer media type of that blob
        size INTEGER NOT NULL         -- blob size in bytes
    );
    CREATE TABLE IF NOT EXISTS image_rw_layers (
        container_id TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        dir TEXT NOT NULL             -- directory under overlay/ (upper = diff, work)
    );
    "#,
    // 3: user-defined networks (JSON owned by the network crate's NetworkInfo).
    r#"
    CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        data BLOB NOT NULL
    );
    "#,
    // 4: volumes (JSON owned by the daemon crate's volume record).
    r#"
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    "#,
];

/// The open metadata database. Cheap to share behind an `Arc`; calls are serialized
/// on one connection (SQLite serializes writers anyway; reads are short).
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `<data_root>/berth.db` and brings its schema up to date.
    pub fn open(data_root: &Path) -> Result<Self, StoreError> {
        let path = data_root.join("berth.db");
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::init(conn, path)
    }

    /// An in-memory database, for unit tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Self::init(conn, PathBuf::from(":memory:"))
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let version = i + 1;
            let tx = conn
                .transaction()
                .map_err(|source| StoreError::Migrate { version, source })?;
            tx.execute_batch(sql)
                .and_then(|_| tx.pragma_update(None, "user_version", version))
                .and_then(|_| tx.commit())
                .map_err(|source| StoreError::Migrate { version, source })?;
            tracing::debug!(version, "metadata schema migrated");
        }
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection. Keep `f` short: it holds the database lock.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = match self.conn.lock() {
            Ok(c) => c,
            // A panic while holding the lock leaves the connection usable: SQLite
            // rolls back any open transaction when it is dropped or reused.
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(f(&mut conn)?)
    }

    /// Reads a value from the key/value table.
    pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        use rusqlite::OptionalExtension;
        self.with(|c| {
            c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Writes a value to the key/value table.
    pub fn kv_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO kv(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                rusqlite::params![key, value],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = Store::open(dir.path()).expect("open");
            s.kv_put("a", b"1").expect("put");
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.kv_get("a").expect("get"), Some(b"1".to_vec()));
        let v: usize = s
            .with(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len());
    }
}
