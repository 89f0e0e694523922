//! Starting the simulator on a socket and the handle tests hold: base URL, direct state access, shutdown.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::state::SimState;

/// A running simulator. Dereferences to its [`SimState`] for direct access
/// (`handle.truth()`, `handle.follower_openid(0)`, `handle.mint_code(..)`…).
#[derive(Debug)]
pub struct SimHandle {
    /// `http://127.0.0.1:PORT` — use as the WeChat API base URL.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

impl Deref for SimHandle {
    type Target = Arc<SimState>;

    fn deref(&self) -> &Arc<SimState> {
        &self.state
    }
}

impl SimHandle {
    /// The shared state (the same one the router serves).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops serving; in-flight requests get 2 s to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Resolves when the server stops on its own (it only stops on [`SimHandle::shutdown`] or
    /// an I/O failure).
    pub async fn serve_until_stopped(&mut self) -> Result<(), SimError> {
        match self.task.as_mut() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(SimError::Serve),
                Err(e) => Err(SimError::Serve(std::io::Error::other(e))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the simulator on `addr` (port 0 picks a free port).
pub async fn start(config: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
    let state = SimState::new(config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let app = crate::router(Arc::clone(&state));
    let (stop, stopped) = oneshot::channel::<()>();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    Ok(SimHandle {
        base_url: format!("http://{host}:{}", addr.port()),
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}
