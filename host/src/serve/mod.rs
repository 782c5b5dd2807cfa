//! `conduit serve`: the watch service, plus the HTTP API of
//! docs/http-api.md and the web UI, in one process.
//!
//! - [`guard`] decides who may talk to it (API key, loopback `Host`, CSRF);
//! - [`routes`] is the API, a thin layer over [`crate::api`];
//! - [`bus`] turns the library's and the service's events into the event
//!   stream and the live progress that `/api/status` shows;
//! - [`ui`] serves the page, embedded in the binary.

mod bus;
mod guard;
mod routes;
mod ui;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{self, UnboundedSender};

pub use guard::api_key;
pub use routes::OPENAPI;

use crate::api::{Host, UsageError};
use crate::watch::{ServiceEvent, WatchOptions};

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8377";

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Allow an address other than loopback (the network can then reach
    /// the API, unencrypted; only the key protects it).
    pub expose: bool,
    /// The watch service's options.
    pub watch: WatchOptions,
}

/// Serve until `shutdown` completes. `listening` is told the address once
/// the server accepts connections; the service's events also go to
/// `events` (the command line prints them).
pub async fn serve(
    home: PathBuf,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
    listening: impl FnOnce(SocketAddr),
    events: UnboundedSender<ServiceEvent>,
) -> anyhow::Result<()> {
    let loopback = opts.listen.ip().is_loopback();
    if !loopback && !opts.expose {
        return Err(UsageError(format!(
            "{} is not a loopback address: anyone who can reach it could try the API, \
             unencrypted; add --expose if that is what you want",
            opts.listen
        ))
        .into());
    }
    let key = api_key(&home)?;
    let access = Arc::new(guard::Access::new(key, loopback)?);
    let host = Host::open(&home)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}; choose another address with --listen",
                opts.listen
            )
        })?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let app = Arc::new(routes::App {
        home: home.clone(),
        host: Mutex::new(host),
        bus: Arc::new(bus::Bus::new()),
        csrf: access.csrf.clone(),
        running: Mutex::new(HashSet::new()),
        stopping: stopping.clone(),
        cancel: Default::default(),
    });
    let router = routes::api()
        .with_state(app.clone())
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(access, guard::check));
    listening(listener.local_addr()?);

    let (service_tx, mut service_rx) = mpsc::unbounded_channel();
    let bus = app.bus.clone();
    let forward = tokio::spawn(async move {
        while let Some(event) = service_rx.recv().await {
            bus.service(&event);
            let _ = events.send(event);
        }
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let service = crate::watch::serve(
        home,
        opts.watch,
        until_stopped(stopping.clone()),
        service_tx,
    );
    let server =
        axum::serve(listener, router).with_graceful_shutdown(until_stopped(stopping.clone()));
    let server = async { server.await.map_err(anyhow::Error::from) };
    let stopper = async {
        shutdown.await;
        app.stop();
        let _ = stop.send(true);
        Ok(())
    };
    let result = tokio::try_join!(service, server, stopper);
    let _ = forward.await;
    result.map(|_| ())
}
