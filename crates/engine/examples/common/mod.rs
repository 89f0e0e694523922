//! What the benchmarks share: the database to measure on.

use std::path::PathBuf;

use engine::testing::TestDb;

/// The database a benchmark runs on, removed (its temporary folder, or the PostgreSQL
/// database) when dropped.
pub struct BenchDb {
    pub url: String,
    /// Prefix of the figures' names: `pg_` on PostgreSQL, none on SQLite.
    pub prefix: &'static str,
    _postgres: Option<TestDb>,
    temp_dir: Option<PathBuf>,
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// PostgreSQL with `--postgres` (a fresh database beside `WXPUSH_TEST_POSTGRES_URL`), else
/// SQLite at `WXPUSH_BENCH_DB=PATH` (kept, so `make bench` can measure on it afterwards) or in
/// a temporary folder named after `name`.
pub async fn bench_database(name: &str) -> Result<BenchDb, Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--postgres") {
        let db = TestDb::postgres()
            .await
            .ok_or("--postgres needs WXPUSH_TEST_POSTGRES_URL")?;
        return Ok(BenchDb {
            url: db.url.clone(),
            prefix: "pg_",
            _postgres: Some(db),
            temp_dir: None,
        });
    }
    if let Ok(path) = std::env::var("WXPUSH_BENCH_DB") {
        return Ok(BenchDb {
            url: format!("sqlite:{path}"),
            prefix: "",
            _postgres: None,
            temp_dir: None,
        });
    }
    let dir = std::env::temp_dir().join(format!("wxpush-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(BenchDb {
        url: format!("sqlite:{}/bench.db", dir.display()),
        prefix: "",
        _postgres: None,
        temp_dir: Some(dir),
    })
}
