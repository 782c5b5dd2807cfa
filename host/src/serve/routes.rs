//! The HTTP API of docs/http-api.md: each handler parses its request,
//! calls the library ([`crate::api`]) on a blocking thread, and answers with
//! the objects `--json` prints.

use std::collections::{HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::bus::Bus;
use crate::api::{
    Cadence, Host, InstallOptions, Keep, NewConduit, RestoreChoice, RunInProgress, SyncOptions,
    UsageError,
};

/// What every handler shares.
pub struct App {
    pub home: PathBuf,
    /// For quick requests; anything that may take a while (runs, previews,
    /// verify, resolve, restore, install) opens its own.
    pub host: Mutex<Host>,
    pub bus: Arc<Bus>,
    pub csrf: String,
    /// Conduits with a run started through the API and not yet over.
    pub running: Mutex<HashSet<String>>,
    /// Ends the event streams when the server stops.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Asks runs started through the API to stop at their next batch.
    pub cancel: Arc<AtomicBool>,
}

impl App {
    /// The server is stopping: runs it started end at their next batch
    /// boundary (what is committed stays; the next run does the rest).
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

type Shared = State<Arc<App>>;

/// An error answer: `{"error": message}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        let status = if e.downcast_ref::<UsageError>().is_some() {
            StatusCode::BAD_REQUEST
        } else if e.downcast_ref::<RunInProgress>().is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let bearer = header::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer);
        }
        response
    }
}

type Answer = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

/// Run `f` with the shared host on a blocking thread.
async fn shared<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut Host) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    // A request that panicked leaves the host as usable as any other error does.
    blocking(move || f(&mut app.host.lock().unwrap_or_else(|p| p.into_inner()))).await
}

/// Run `f` with a host of its own (for long work that must not hold up
/// the quick requests).
async fn own<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut Host) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let home = app.home.clone();
    blocking(move || f(&mut Host::open(&home)?)).await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's work failed: {e}"),
        )),
    }
}

/// A request's body, refused as JSON like every other error (too large:
/// 413, unreadable: 400).
struct Raw(Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Raw {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Raw, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(Raw)
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// A JSON body; an empty one is `T::default()` where `T` has one.
fn body<T: DeserializeOwned>(bytes: &Bytes, empty: Option<T>) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(value) = empty
    {
        return Ok(value);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(format!(
            "the request body is not what this endpoint takes: {e}"
        ))
    })
}

/// The router of `/api/`.
pub fn api() -> axum::Router<Arc<App>> {
    axum::Router::new()
        .route("/api/session", get(session))
        .route("/api/status", get(status))
        .route("/api/conduits", get(list).post(create))
        .route("/api/preview", post(preview))
        .route(
            "/api/conduits/{name}",
            get(show).patch(change).delete(remove),
        )
        .route("/api/conduits/{name}/pause", post(pause))
        .route("/api/conduits/{name}/resume", post(resume))
        .route("/api/conduits/{name}/sync", post(sync))
        .route("/api/conduits/{name}/verify", post(verify))
        .route("/api/conduits/{name}/history", get(history))
        .route("/api/conduits/{name}/history/{generation}", get(run_record))
        .route("/api/conduits/{name}/conflicts", get(conflicts))
        .route("/api/conduits/{name}/resolve", post(resolve))
        .route("/api/conduits/{name}/trash", get(trash))
        .route("/api/conduits/{name}/restore", post(restore))
        .route(
            "/api/policies",
            get(policies)
                .post(install)
                .layer(DefaultBodyLimit::max(64 << 20)),
        )
        .route("/api/policies/{name}", get(policy))
        .route("/api/devices", get(devices))
        .route("/api/browse", get(browse))
        .route("/api/events", get(events))
        .route("/api/openapi.json", get(openapi))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint; /api/openapi.json lists them",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method; /api/openapi.json lists the ones it takes",
            )
        })
}

/// The OpenAPI description, also the test's list of routes.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn session(State(app): Shared) -> Answer {
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "csrf": app.csrf,
        "home": app.home,
        "last_event": app.bus.last_id(),
    }))
}

async fn status(State(app): Shared) -> Answer {
    let statuses = shared(&app, |host| {
        Ok(host
            .conduits()?
            .into_iter()
            .map(|c| (host.status(&c.name, false), c.name))
            .collect::<Vec<_>>())
    })
    .await?;
    let list: Vec<Value> = statuses
        .into_iter()
        .map(|(status, name)| {
            // One conduit whose status cannot be read does not hide the others.
            let s = match status {
                Ok(s) => s,
                Err(e) => return json!({ "conduit": name, "error": format!("{e:#}") }),
            };
            let mut value = serde_json::to_value(&s).unwrap_or_default();
            let next = s.service.as_ref().and_then(|served| served.next_run_ns);
            value["next_run"] = json!(next.map(crate::clock::rfc3339));
            value["progress"] = json!(app.bus.progress(&s.conduit));
            value["error"] = json!(app.bus.error(&s.conduit));
            value
        })
        .collect();
    ok(list)
}

async fn list(State(app): Shared) -> Answer {
    let all = shared(&app, |host| host.conduits()).await?;
    ok(all
        .iter()
        .map(crate::api::json::conduit)
        .collect::<Vec<_>>())
}

async fn show(State(app): Shared, Path(name): Path<String>) -> Answer {
    let c = shared(&app, move |host| host.conduit(&name)).await?;
    ok(crate::api::json::conduit(&c))
}

/// The body of `POST /api/conduits` and `/api/preview`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    name: String,
    source: PathBuf,
    destination: PathBuf,
    policy: String,
    #[serde(default)]
    options: serde_json::Map<String, Value>,
    #[serde(default)]
    cadence: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
}

impl NewBody {
    fn conduit(self) -> Result<NewConduit, ApiError> {
        let cadence = match &self.cadence {
            Some(text) => text
                .parse::<Cadence>()
                .map_err(|e| ApiError::bad(format!("cadence: {e}")))?,
            None => Cadence::Manual,
        };
        Ok(NewConduit {
            options: settings(self.options)?,
            cadence,
            ignore: self.ignore,
            ..NewConduit::new(&self.name, self.source, self.destination, &self.policy)
        })
    }
}

/// `{"KEY": value}` as `--set KEY=VALUE` pairs: strings as typed, numbers
/// and booleans in their plain spelling.
fn settings(map: serde_json::Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(n) => Ok((key, n.to_string())),
            Value::Bool(b) => Ok((key, b.to_string())),
            other => Err(ApiError::bad(format!(
                "setting `{key}`: {other} is not a string, number or boolean"
            ))),
        })
        .collect()
}

async fn create(State(app): Shared, Raw(bytes): Raw) -> Answer {
    let new = body::<NewBody>(&bytes, None)?.conduit()?;
    let c = shared(&app, move |host| host.add(new)).await?;
    app.bus
        .send("conduit-created", json!({ "conduit": c.name }));
    Ok((StatusCode::CREATED, Json(crate::api::json::conduit(&c))).into_response())
}

async fn preview(State(app): Shared, Raw(bytes): Raw) -> Answer {
    let new = body::<NewBody>(&bytes, None)?.conduit()?;
    ok(own(&app, move |host| host.preview(new)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    settings: serde_json::Map<String, Value>,
}

async fn change(State(app): Shared, Path(name): Path<String>, Raw(bytes): Raw) -> Answer {
    let pairs = settings(body::<ChangeBody>(&bytes, None)?.settings)?;
    let c = shared(&app, move |host| host.set(&name, &pairs)).await?;
    changed(&app, &c.name);
    ok(crate::api::json::conduit(&c))
}

fn changed(app: &App, name: &str) {
    app.bus.send("conduit-changed", json!({ "conduit": name }));
}

async fn pause(State(app): Shared, Path(name): Path<String>) -> Answer {
    let c = shared(&app, move |host| host.set_enabled(&name, false)).await?;
    changed(&app, &c.name);
    ok(crate::api::json::conduit(&c))
}

async fn resume(State(app): Shared, Path(name): Path<String>) -> Answer {
    let c = shared(&app, move |host| host.set_enabled(&name, true)).await?;
    changed(&app, &c.name);
    ok(crate::api::json::conduit(&c))
}

async fn remove(State(app): Shared, Path(name): Path<String>) -> Answer {
    let c = shared(&app, move |host| host.remove(&name)).await?;
    app.bus
        .send("conduit-removed", json!({ "conduit": c.name }));
    ok(json!({ "removed": c.name }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
}

async fn sync(State(app): Shared, Path(name): Path<String>, Raw(bytes): Raw) -> Answer {
    let asked = body(&bytes, Some(SyncBody::default()))?;
    let opts = SyncOptions {
        dry_run: asked.dry_run,
        force: asked.force,
        cancel: Some(app.cancel.clone()),
        ..SyncOptions::default()
    };
    if opts.dry_run {
        return ok(own(&app, move |host| host.sync(&name, &opts, &|_| {})).await?);
    }
    let c = {
        let name = name.clone();
        shared(&app, move |host| host.conduit(&name)).await?
    };
    // A run in flight (the service's, or one started here) shows progress.
    let busy = app.bus.progress(&c.name).is_some();
    if busy
        || !app
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.name.clone())
    {
        return Err(anyhow::Error::from(RunInProgress(c.name)).into());
    }
    let worker = Started {
        app: app.clone(),
        conduit: c.name.clone(),
    };
    tokio::task::spawn_blocking(move || {
        let bus = worker.app.bus.clone();
        let result = Host::open(&worker.app.home)
            .and_then(|mut host| host.sync(&worker.conduit, &opts, &|event| bus.library(event)));
        if let Err(e) = result {
            bus.failed(&worker.conduit, format!("{e:#}"));
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "conduit": c.name, "started": true })),
    )
        .into_response())
}

/// A run started through the API: over when dropped, however it ended
/// (a panic included), so the conduit never stays busy.
struct Started {
    app: Arc<App>,
    conduit: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let mut running = self.app.running.lock().unwrap_or_else(|p| p.into_inner());
        running.remove(&self.conduit);
        if std::thread::panicking() {
            let error = "the run panicked; the log says where".to_string();
            self.app.bus.failed(&self.conduit, error);
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    repair: bool,
}

async fn verify(State(app): Shared, Path(name): Path<String>, Raw(bytes): Raw) -> Answer {
    let repair = body(&bytes, Some(VerifyBody::default()))?.repair;
    let report = own(&app, move |host| host.verify(&name, repair)).await?;
    app.bus.verified(&report);
    ok(report)
}

/// A query parameter that must be a number.
fn number<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    query
        .get(key)
        .map(|text| {
            text.parse()
                .map_err(|_| ApiError::bad(format!("{key}={text:?} is not a number")))
        })
        .transpose()
}

async fn history(
    State(app): Shared,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let limit = number(&query, "limit")?.unwrap_or(50);
    ok(shared(&app, move |host| host.history(&name, limit)).await?)
}

async fn run_record(
    State(app): Shared,
    Path((name, generation)): Path<(String, String)>,
) -> Answer {
    let generation: i64 = generation
        .parse()
        .map_err(|_| ApiError::bad(format!("generation {generation:?} is not a number")))?;
    ok(shared(&app, move |host| host.run_record(&name, generation)).await?)
}

async fn conflicts(State(app): Shared, Path(name): Path<String>) -> Answer {
    ok(shared(&app, move |host| host.conflict_sides(&name)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    path: String,
    keep: String,
}

async fn resolve(State(app): Shared, Path(name): Path<String>, Raw(bytes): Raw) -> Answer {
    let asked = body::<ResolveBody>(&bytes, None)?;
    let keep: Keep = asked.keep.parse().map_err(ApiError::bad)?;
    let outcome = own(&app, move |host| host.resolve(&name, &asked.path, keep)).await?;
    let mut answer = serde_json::to_value(&outcome.counts).unwrap_or_default();
    answer["problems"] = json!(outcome.problems);
    ok(answer)
}

async fn trash(
    State(app): Shared,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let path = query.get("path").cloned();
    ok(shared(&app, move |host| host.trash(&name, path.as_deref())).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    path: String,
    #[serde(default)]
    version: Option<usize>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

async fn restore(State(app): Shared, Path(name): Path<String>, Raw(bytes): Raw) -> Answer {
    let asked = body::<RestoreBody>(&bytes, None)?;
    let before_ns = match &asked.before {
        Some(text) => Some(
            crate::clock::parse_when(text, crate::clock::now_ns())
                .map_err(|e| ApiError::bad(format!("before: {e}")))?,
        ),
        None => None,
    };
    let choice = RestoreChoice {
        version: asked.version,
        before_ns,
        to: asked.to,
    };
    ok(own(&app, move |host| host.restore(&name, &asked.path, &choice)).await?)
}

async fn policies(State(app): Shared) -> Answer {
    let all = shared(&app, |host| host.policies()).await?;
    ok(all.iter().map(crate::api::json::policy).collect::<Vec<_>>())
}

async fn devices(State(app): Shared) -> Answer {
    ok(shared(&app, |host| host.devices()).await?)
}

async fn policy(State(app): Shared, Path(name): Path<String>) -> Answer {
    let listing = shared(&app, move |host| {
        let policy = host.load_policy(&name)?;
        Ok(crate::api::PolicyListing {
            installed: host.policy_store().get(&name)?,
            used_by: host.policy_users(&name)?,
            name,
            policy: Ok(policy),
        })
    })
    .await?;
    ok(crate::api::json::policy(&listing))
}

async fn install(
    State(app): Shared,
    Query(query): Query<HashMap<String, String>>,
    Raw(bytes): Raw,
) -> Answer {
    let replace = match query.get("replace").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::bad(format!("replace={other:?}: true or false"))),
    };
    let opts = InstallOptions {
        name: query.get("name").cloned(),
        replace,
        from: Some("the HTTP API".into()),
    };
    let report = own(&app, move |host| host.install_policy(&bytes, &opts)).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::api::json::install(&report)),
    )
        .into_response())
}

/// The folders in a folder, for the "Sync To..." dialog.
async fn browse(Query(query): Query<HashMap<String, String>>) -> Answer {
    let path = match query.get("path").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => dirs::home_dir().unwrap_or_else(|| PathBuf::from("/")),
    };
    let listing = blocking(move || folders(&path)).await?;
    ok(listing)
}

fn folders(path: &FsPath) -> anyhow::Result<Value> {
    if !path.is_absolute() {
        return Err(UsageError(format!("{path:?} is not an absolute path")).into());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| UsageError(format!("cannot list {}: {e}", path.display())))?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| name != crate::BOOKKEEPING_DIR)
        .collect();
    folders.sort();
    Ok(json!({
        "path": path,
        "parent": path.parent(),
        "folders": folders
            .into_iter()
            .map(|(name, path)| json!({ "name": name, "path": path }))
            .collect::<Vec<_>>(),
    }))
}

/// The event stream: what the client missed since `Last-Event-ID` (or
/// `?after=`), then everything new, until the server stops.
async fn events(
    State(app): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad(format!("Last-Event-ID {v:?} is not a number")))
        })
        .transpose()?;
    let after = match from_header {
        Some(id) => id,
        None => number(&query, "after")?.unwrap_or(0),
    };
    let (missed, receiver) = app.bus.subscribe(after);
    let missed = futures_util::stream::iter(missed);
    let live = futures_util::stream::unfold(receiver, |mut receiver| async move {
        // A client too slow to keep up is cut off: it reconnects with its
        // last id and gets what it missed from the kept events.
        receiver.recv().await.ok().map(|sent| (sent, receiver))
    });
    let mut stopping = app.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let stream = missed
        .chain(live)
        .map(|sent| {
            Ok::<_, std::convert::Infallible>(
                SseEvent::default()
                    .id(sent.id.to_string())
                    .event(sent.name)
                    .data(sent.data.to_string()),
            )
        })
        .take_until(Box::pin(stopped));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().text("keep-alive")))
}
