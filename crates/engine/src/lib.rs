//! The wxpush domain: storage on SQLite or PostgreSQL, staff and authentication, audit log.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod db;
pub mod error;
pub mod password;
pub mod sessions;
pub mod staff;
pub mod throttle;

pub use db::Db;
pub use error::{Error, Result};
pub use staff::{Role, Staff};

use std::time::{SystemTime, UNIX_EPOCH};

/// The handle every layer above uses: cheap to clone, shared by all requests.
#[derive(Clone, Debug)]
pub struct Engine {
    db: Db,
}

impl Engine {
    /// Connects to `database_url`, runs the migrations and returns the engine.
    pub async fn open(database_url: &str) -> Result<Self> {
        let db = Db::connect(database_url).await?;
        db.migrate().await?;
        Ok(Self { db })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// True when the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }
}

/// Milliseconds since the Unix epoch: every timestamp in the schema uses it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
