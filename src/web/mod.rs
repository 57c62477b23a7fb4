//! `dosesim serve`: the web application for the people who prepare, check and give the doses
//! and for the study coordinators, on the same database and library as the commands, so
//! that what a page records the CLI reads and the other way round.
//!
//! **Thin routes.** Each page module (`day`, `patients`, `entries`, `audit`, `reports`,
//! `feeds`) turns a request into a library call (`db::books`, `db::doses`, `sheet`,
//! `report`, ...) and its result into a page ([`page`]); none holds a rule of its own that
//! the CLI lacks. The database is synchronous, so each request's work runs on tokio's
//! blocking pool ([`blocking`]), with a connection opened for it.
//!
//! **Who may do what** is checked on the server ([`auth`]): every page needs a signed-in
//! user (else a redirect to `/login`), every form carries the session's CSRF token (else
//! 403, checked before any handler runs), and each recording route names the role it
//! needs ([`auth::Signed::require`]).

pub mod auth;
pub mod page;

mod audit;
mod day;
mod entries;
mod feeds;
mod patients;
mod reports;
pub mod trials;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;

use crate::db::{Db, Location, Open};

/// How the server was started.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database: the same `--db` / `DOSESIM_DB` / `dosesim.db` as the commands.
    pub db: Location,
    /// The folder of scenario files (each trial's scenario, site calendars beside it).
    pub scenarios: PathBuf,
    /// Where to listen (loopback by default).
    pub listen: SocketAddr,
    /// Minutes a session may stay idle before it ends.
    pub idle_minutes: u64,
    /// Users reach the server through an HTTPS proxy: cookies are marked `Secure` (sent
    /// over HTTPS only).
    pub https: bool,
}

/// What every request shares: the configuration, the sessions and the failed sign-ins.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub sessions: auth::Sessions,
    /// Connections to the database, kept open between requests (a PostgreSQL connection
    /// costs a handshake and a schema check to open).
    idle: std::sync::Mutex<Vec<Db>>,
}

/// The most connections kept open while idle.
const IDLE_CONNECTIONS: usize = 16;

/// A connection lent to one request, given back when the request is done with it.
pub struct Lent<'a> {
    db: Option<Db>,
    app: &'a Inner,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        self.db.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && !db.is_closed()
        {
            let mut idle = self.app.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(db);
            }
        }
    }
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub fn new(config: Config) -> App {
        let idle = std::time::Duration::from_secs(config.idle_minutes * 60);
        let sessions = auth::Sessions::new(idle, config.https);
        App(Arc::new(Inner {
            config,
            sessions,
            idle: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// A connection to the database for one request: one kept open since an earlier
    /// request, or a new one (the database must be there: `dosesim serve` makes it at
    /// start).
    pub fn db(&self) -> Result<Lent<'_>> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let db = match kept {
            Some(db) => db,
            None => Db::open(&self.config.db, Open::Existing)?,
        };
        Ok(Lent {
            db: Some(db),
            app: &self.0,
        })
    }
}

/// Runs `f` on tokio's blocking pool (the database and argon2 are synchronous).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Every route of the application.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(trials::routes())
        .merge(day::routes())
        .merge(patients::routes())
        .merge(entries::routes())
        .merge(audit::routes())
        .merge(reports::routes())
        .merge(feeds::routes())
        .fallback(page::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::csrf_guard,
        ))
        .layer(axum::middleware::from_fn(page::security_headers))
        .with_state(app)
}

/// Opens (or makes) the database, binds the address and serves until interrupted
/// (Ctrl-C) or terminated. `ready` is told the address bound (port 0 picks a free one).
pub fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    Db::open(&config.db, Open::OrCreate)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the web server's threads")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        ready(addr);
        let app = App::new(config);
        axum::serve(
            listener,
            router(app).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await
        .context("the web server stopped")
    })
}

/// Ctrl-C, or SIGTERM on unix.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
