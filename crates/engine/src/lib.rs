//! The wxpush domain: storage on SQLite or PostgreSQL, staff and authentication, audit log,
//! followers, templates and send jobs.

pub mod accounts;
pub mod audit;
pub mod db;
pub mod error;
pub mod followers;
pub mod instances;
pub mod jobs;
pub mod metrics;
pub mod schedules;
pub mod send_api;
pub mod send_rules;
pub mod settings;
pub mod sheets;
pub mod staff;
pub mod subscriptions;
pub mod templates;
/// Test databases and helpers: only in tests and with the `testing` feature, never in the server.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod write_gate;

pub use chrono_tz::Tz;
pub use db::Db;
pub use error::{Error, Result};
pub use staff::{Role, Staff};

use accounts::{tokens, vault};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The handle every layer above uses: cheap to clone, shared by all requests.
#[derive(Clone, Debug)]
pub struct Engine {
    db: Db,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: wechat::api::Client,
    /// Names this process in leases (token refresh, follower sync; its dispatchers use
    /// `<id>-<n>`) and in the `instances` registry, so admins can tell who holds them.
    instance_id: String,
    token_locks: tokens::TokenLocks,
    /// Send jobs: the dispatcher's write lock (SQLite), job controls, rate limiters.
    jobs: jobs::Shared,
    /// SQLite's write gate (see [`db::WriteGate`]); `None` on PostgreSQL.
    write_gate: Option<db::WriteGate>,
    /// Encrypts and decrypts the account secrets.
    master_key: vault::HeldKey,
    /// This process's counters and histograms (`/metrics`).
    metrics: Arc<metrics::Metrics>,
    /// What accepting API messages reads again and again.
    accept_cache: send_api::cache::AcceptCache,
    /// API messages waiting to be written together.
    accept_queue: send_api::queue::AcceptQueue,
    /// The time zone and send rules the claims read.
    send_rules: send_rules::RulesCache,
}

impl Engine {
    /// Connects to `database_url` with a fixed, publicly known development key
    /// ([`vault::MasterKey::insecure_development_key`]): for tests and examples only. Unlike
    /// [`Engine::open_with_key`] it does not refuse a database whose secrets are under another
    /// key (reading such an account fails instead). The binary never uses it.
    pub async fn open(database_url: &str) -> Result<Self> {
        let engine =
            Self::connect(database_url, vault::MasterKey::insecure_development_key()).await?;
        engine.seal_account_secrets(false).await?;
        Ok(engine)
    }

    /// Connects to `database_url`, runs the migrations, refuses a database whose account secrets
    /// were encrypted under another key ([`Error::WrongMasterKey`]), and encrypts secrets stored
    /// in plaintext by earlier versions.
    pub async fn open_with_key(database_url: &str, master_key: vault::MasterKey) -> Result<Self> {
        let engine = Self::connect(database_url, master_key).await?;
        engine.seal_account_secrets(true).await?;
        Ok(engine)
    }

    async fn connect(database_url: &str, master_key: vault::MasterKey) -> Result<Self> {
        let db = Db::connect(database_url).await?;
        db.migrate().await?;
        let metrics = Arc::new(metrics::Metrics::new());
        let client = wechat::api::Client::new()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?
            .with_observer(metrics.observer());
        let write_gate = db.write_gate();
        Ok(Self {
            db,
            inner: Arc::new(Inner {
                client,
                instance_id: hex::encode(rand::random::<[u8; 8]>()),
                token_locks: Default::default(),
                jobs: Default::default(),
                write_gate,
                master_key: vault::HeldKey(master_key),
                metrics,
                accept_cache: Default::default(),
                accept_queue: Default::default(),
                send_rules: Default::default(),
            }),
        })
    }

    /// Waits for this process's turn to write (SQLite; at once on PostgreSQL). Hold the guard
    /// only around the writing statements: the gate is not reentrant.
    pub(crate) async fn write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.inner.write_gate {
            Some(gate) => Some(gate.turn().await),
            None => None,
        }
    }

    /// Whether another writer of this process waits for its turn (SQLite).
    pub(crate) fn write_contended(&self) -> bool {
        self.inner
            .write_gate
            .as_ref()
            .is_some_and(write_gate::WriteGate::contended)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The WeChat API client, shared by every account (one connection pool).
    pub fn wechat(&self) -> &wechat::api::Client {
        &self.inner.client
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
