//! Test and benchmark support shared by every crate: a fresh SQLite file or PostgreSQL database
//! per test, and a process's CPU time.

use std::path::PathBuf;

/// A database for one test: deleted (SQLite) or dropped (PostgreSQL) when it goes out of scope.
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg_admin: Option<(String, String)>,
}

fn unique() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("wxpush-test-{}", unique()));
        let _ = std::fs::create_dir_all(&dir);
        TestDb {
            url: format!("sqlite:{}/wx.db", dir.display()),
            dir: Some(dir),
            pg_admin: None,
        }
    }

    /// A new database beside `WXPUSH_TEST_POSTGRES_URL`. Without that variable the test is
    /// skipped with a notice, except under CI (`CI` set), where that is a failure.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var("WXPUSH_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "CI needs WXPUSH_TEST_POSTGRES_URL: PostgreSQL tests must not be skipped"
            );
            eprintln!("skipping: set WXPUSH_TEST_POSTGRES_URL to run the PostgreSQL variant");
            return None;
        };
        let name = format!("wxpush_test_{}", unique());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .expect("connect to WXPUSH_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create a test database");
        pool.close().await;
        let base = admin.split_once('?').map_or(admin.as_str(), |(b, _)| b);
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        Some(TestDb {
            url: format!("{prefix}/{name}"),
            dir: None,
            pg_admin: Some((admin, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg_admin.take() {
            // On a thread of its own: Drop may run inside a test's runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Runs an async test body once on SQLite and once on PostgreSQL:
/// `on_both_databases!(my_test);` with `async fn my_test(db: TestDb)`.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::testing::TestDb::sqlite()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    };
}

/// CPU seconds (user + system) process `pid` (or `"self"`) used so far, from
/// `/proc/<pid>/stat`; 0 where that cannot be read.
pub fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the name), in ticks
    // of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}
