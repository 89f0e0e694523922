//! `wxpush serve`: opens the database, wires the router and serves until SIGTERM or Ctrl-C.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, SessionManagerLayer};

use app::app::{shell, App};
use app::state::AppState;
use engine::staff::sessions::Sessions;
use engine::Engine;

use crate::config::Config;
use crate::sandbox::{self, SandboxMode};
use crate::web::{
    assets, callback, events, export, guard::guard, health, metrics, security, server_fns,
};

/// The largest request body anywhere (server functions take pasted CSV lists) but the send
/// API's, which sets its own (64 KiB for a message, 4 MiB for a batch).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Stops a background task when the server returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn serve(config: Config, sandbox_mode: SandboxMode) -> Result<(), String> {
    let engine: Engine = crate::cli::open_engine(&config).await?;
    tracing::info!(dialect = engine.db().dialect(), "database ready");
    let registry = engine.clone();

    // Syncs a crashed or stopped process left unfinished continue from their cursor.
    match engine.resume_syncs().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "resuming unfinished follower syncs"),
        Err(e) => tracing::error!("cannot resume follower syncs: {e}"),
    }
    // With several processes, a sync whose process dies is taken over by a survivor.
    let _sync_watch = engine.watch_syncs(std::time::Duration::from_secs(10));

    // Send jobs live in the database: this process's dispatcher picks up whatever is running,
    // including jobs a crashed or stopped process left behind.
    let _dispatcher = engine.start_dispatcher(engine::jobs::DispatchConfig {
        concurrency: config.dispatch_concurrency,
        lease_ms: config.dispatch_lease_secs * 1000,
        ..engine::jobs::DispatchConfig::default()
    });

    // Send API messages report their outcome to their key's webhook, apart from sending.
    let _webhooks = AbortOnDrop(engine.start_webhooks());

    // Kept alive for the life of the server.
    let _sandbox = sandbox::start(&engine, sandbox_mode, config.addr).await?;

    let sessions = Sessions::open(engine.db())
        .await
        .map_err(|e| format!("cannot prepare the session store: {e}"))?;
    tokio::spawn(
        sessions
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(300)),
    );
    if let Some(token) = engine
        .issue_setup_token()
        .await
        .map_err(|e| format!("cannot create the setup link: {e}"))?
    {
        tracing::warn!(
            "no staff account exists yet; create the first admin at {}/setup?token={token} \
             (works once; or run `wxpush user add --username NAME --role admin`)",
            config.public_url
        );
    }

    // The bundle's name carries its content hash (scripts/pack-site.mjs): the hydration
    // scripts and the stylesheet link name these files.
    let site = assets::Site::read(&config.site_root);
    tracing::info!(bundle = %site.bundle, "serving the console's bundle");
    let leptos_options = LeptosOptions::builder()
        .output_name(site.bundle.as_str())
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    let state = AppState {
        leptos_options: leptos_options.clone(),
        engine,
        trust_forwarded_for: config.trust_forwarded_for,
        public_url: config.public_url.clone(),
        cookie_secure: config.cookie_secure,
    };

    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("wxpush_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(config.cookie_secure)
        .with_expiry(Expiry::OnInactivity(Duration::minutes(
            config.session_idle_minutes,
        )));

    let routes = generate_route_list(App);
    let limits = &config.limits;
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/metrics",
            get(metrics::metrics).layer(axum::Extension(metrics::MetricsAccess(
                config.metrics_token.clone(),
            ))),
        )
        .route("/events/sync", get(events::sync_events))
        .merge(assets::routes(&config.site_root, site))
        .merge(callback::routes(
            limits.callback_per_sec,
            limits.callback_max_body_kb,
        ))
        .route("/export/followers.csv", get(export::followers_csv))
        .route("/export/jobs/{file}", get(export::job_csv))
        .route("/export/audit.csv", get(export::audit_csv))
        .merge(crate::web::mp_api::routes(
            limits.mp_api_per_ip_per_sec,
            limits.mp_api_per_key_per_sec,
        ))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Every body: 1 MiB (pasted CSV lists go through server functions); the callback and
        // the Mini Program API set smaller limits of their own.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        // After the limit, so outside it: the send API limits its own bodies (a batch: 4 MiB).
        .merge(crate::web::send_api::routes())
        // Spreadsheets of per-person values: up to 50 MB, limited by their own route.
        .merge(crate::web::sheets::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(session_layer)
        .layer(axum::middleware::from_fn_with_state(
            security::AllowedOrigins {
                public_url: config.public_url.clone(),
            },
            security::security,
        ))
        // Login attempts per client IP and per username, checked by the login server function.
        .layer(axum::Extension(security::login_rate_limit(
            limits.login_per_ip_per_min,
            limits.login_per_user_per_min,
        )))
        // Outside the body limit, so that a server function's oversized request is answered
        // in the server functions' own JSON error form.
        .layer(axum::middleware::from_fn(server_fns::server_fn_errors))
        // Pages, server functions, exports and API answers, brotli or gzip as the client
        // accepts; the bundle is precompressed (so left alone) and event streams are not held.
        .layer(CompressionLayer::new())
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    // Admins see the processes of the deployment on the settings page. The registry is
    // informational: a failure is logged, and the heartbeat registers the process later.
    let listen_addr = listener.local_addr().unwrap_or(config.addr).to_string();
    let instance =
        engine::instances::InstanceInfo::this_process(env!("CARGO_PKG_VERSION"), &listen_addr);
    if let Err(e) = registry.register_instance(&instance).await {
        tracing::warn!(error = %e, "could not register this process");
    }
    let heartbeat = registry.start_instance_heartbeat(instance);
    tracing::info!(
        instance = registry.instance_id(),
        "wxpush listening on http://{}",
        config.addr
    );
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    // Recipients this process claimed but did not send go back to the other processes now,
    // not when the lease lapses; sends in flight finish and are recorded.
    let unsettled = registry
        .stop_dispatching(std::time::Duration::from_secs(10))
        .await;
    if unsettled > 0 {
        tracing::warn!(
            rows = unsettled,
            "stopping with claimed recipients unsettled; another process takes them over when their lease lapses"
        );
    }
    // A clean stop: no more heartbeats, and the process is listed as stopped at once.
    heartbeat.abort();
    let _ = heartbeat.await;
    if let Err(e) = registry.deregister_instance().await {
        tracing::warn!(error = %e, "could not record this process's stop");
    }
    served.map_err(|e| format!("server error: {e}"))?;
    tracing::info!("wxpush stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, letting in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
