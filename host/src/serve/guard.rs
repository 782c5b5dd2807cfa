//! Who may talk to `conduit serve` (docs/http-api.md): the API key on
//! every `/api/` request, loopback `Host` headers while bound to loopback
//! (DNS rebinding), and the CSRF token and same `Origin` on what a browser
//! sends to change something.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::ApiError;

/// What the guard checks requests against.
pub struct Access {
    key: String,
    /// The token browsers send back on requests that change something.
    pub csrf: String,
    /// Bound to a loopback address: only loopback `Host` headers.
    loopback: bool,
}

impl Access {
    /// Checks for a server with this key, bound to loopback or not.
    pub fn new(key: String, loopback: bool) -> anyhow::Result<Access> {
        Ok(Access {
            key,
            csrf: random_token()?,
            loopback,
        })
    }
}

/// The home's API key: read from `HOME/api-key`, or made there on first use
/// (mode 0600: only its owner may read it).
pub fn api_key(home: &Path) -> anyhow::Result<String> {
    let path = home.join("api-key");
    match std::fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => {
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                // Others could read it: keep it to its owner from now on.
                tracing::warn!(
                    "{} was readable by others; it is now mode 0600",
                    path.display()
                );
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            return Ok(key.trim().to_string());
        }
        Ok(_) => anyhow::bail!(
            "{} is empty; remove it and a new key is made",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read the API key {}: {e}", path.display()),
    }
    std::fs::create_dir_all(home)?;
    let key = random_token()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(file, "{key}")?;
    file.sync_all()?;
    Ok(key)
}

/// 256 random bits as hex; no fallback: a guessable key is worse than none.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| anyhow::anyhow!("no randomness for the API key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The middleware in front of every route.
pub async fn check(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match refusal(
        &access,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

/// Why the request is refused, if it is.
fn refusal(access: &Access, method: &Method, path: &str, headers: &HeaderMap) -> Option<ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST.as_str()).unwrap_or_default();
    if access.loopback && !is_loopback_host(host) {
        return Some(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not this machine: while bound to loopback the server only \
                 answers requests for localhost, 127.0.0.1 or [::1]"
            ),
        ));
    }
    if !path.starts_with("/api/") {
        return None; // the page itself holds nothing of the home
    }
    let given = text(header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key)
        .or_else(|| text("x-api-key"));
    if !given.is_some_and(|key| same_secret(key.trim(), &access.key)) {
        return Some(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this needs the API key, as `Authorization: Bearer KEY` or `X-API-Key: KEY`; \
             `conduit serve --print-key` prints it",
        ));
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if let (true, Some(origin)) = (changes, text(header::ORIGIN.as_str())) {
        // The same site, also behind a TLS proxy (an exposed server).
        if origin != format!("http://{host}") && origin != format!("https://{host}") {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("a page from {origin:?} may not change anything here"),
            ));
        }
        if !text("x-csrf-token").is_some_and(|t| same_secret(t, &access.csrf)) {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "a browser's request that changes something needs `X-CSRF-Token`, the token \
                 `GET /api/session` returns",
            ));
        }
    }
    None
}

/// localhost, 127.0.0.1 or [::1], with or without a port.
fn is_loopback_host(host: &str) -> bool {
    if host.contains('@') {
        return false; // user info has no place in a Host header
    }
    let name = match host.parse::<axum::http::uri::Authority>() {
        Ok(authority) => authority.host().to_ascii_lowercase(),
        Err(_) => return false,
    };
    let ipv4_loopback = name
        .parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback());
    ipv4_loopback || matches!(name.as_str(), "localhost" | "[::1]")
}

/// Compare secrets in time independent of where they differ (BLAKE3's
/// `Hash` equality is constant-time).
fn same_secret(given: &str, secret: &str) -> bool {
    blake3::hash(given.as_bytes()) == blake3::hash(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for host in [
            "localhost",
            "localhost:8377",
            "127.0.0.1:1",
            "127.0.0.2",
            "[::1]:8377",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "127.0.0.1.evil.example:8377",
            "localhost.evil.example",
            "10.0.0.1:8377",
            "127.1",
            "user@localhost",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
