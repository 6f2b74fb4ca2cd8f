//! The daemon's HTTP endpoints: `/healthz` for liveness, `/readyz` for
//! readiness and `/metrics` for Prometheus.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::{encode_eof, encode_registry};

use super::shutdown::Shutdown;
use super::state::DaemonState;
use crate::telemetry;

/// The content type of the OpenMetrics text that prometheus-client 0.26's
/// encoder writes (it ends with `# EOF`). Prometheus reads it as it reads
/// its own text format.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The state shared by the handlers.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub daemon: Arc<DaemonState>,
    /// Read by `/readyz`, which turns 503 once a shutdown is requested.
    pub shutdown: Shutdown,
}

/// Builds the routes: `GET` (and so `HEAD`) on `/healthz`, `/readyz` and `/metrics`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves the routes on `listener` until `stop` completes. Requests in
/// flight then finish first.
pub async fn serve(listener: tokio::net::TcpListener, state: HttpState, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(stop).await
}

/// Returns 200 whenever the process serves HTTP.
async fn healthz() -> &'static str {
    "ok"
}

/// Returns 200 once the first scan has finished, whatever its result, and
/// 503 before it and again once shutdown has started.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_requested() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if state.daemon.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "waiting for the first scan to finish")
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], render_metrics(&state.daemon))
}

/// Renders the process-wide metrics, then the daemon's own, as one
/// OpenMetrics exposition.
pub fn render_metrics(daemon: &DaemonState) -> String {
    let mut text = String::new();
    let written = encode_registry(&mut text, &telemetry::metrics().registry)
        .and_then(|()| encode_registry(&mut text, daemon.metrics.registry()))
        .and_then(|()| encode_eof(&mut text));
    written.expect("writing to a String cannot fail");
    text
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::daemon::shutdown::{self, ShutdownTrigger};

    fn setup(ready: bool) -> (ShutdownTrigger, HttpState) {
        let (trigger, shutdown) = shutdown::channel();
        let state = HttpState {
            daemon: Arc::new(DaemonState::new(ready)),
            shutdown,
        };
        (trigger, state)
    }

    /// Sends one `GET` over HTTP/1.1 and returns the whole response.
    async fn raw_get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn readyz_follows_first_scan_and_shutdown() {
        let (trigger, state) = setup(false);

        let (status, _) = readyz(State(state.clone())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "before the first scan");

        state.daemon.mark_ready();
        let (status, _) = readyz(State(state.clone())).await;
        assert_eq!(status, StatusCode::OK, "after the first scan");

        trigger.escalate();
        let (status, body) = readyz(State(state)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "during shutdown");
        assert_eq!(body, "shutting down");
    }

    #[tokio::test]
    async fn metrics_render_both_registries_once() {
        let (_trigger, state) = setup(true);
        state.daemon.metrics.scan_running.set(1);
        state.daemon.metrics.skipped_ticks.inc_by(2);

        let body = render_metrics(&state.daemon);
        assert!(body.contains("# TYPE orgscan_scans_started counter"), "{body}");
        assert!(body.contains("orgscan_scan_running 1\n"), "{body}");
        assert!(body.contains("orgscan_skipped_ticks_total 2\n"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert_eq!(body.matches("# EOF").count(), 1, "{body}");
    }

    #[tokio::test]
    async fn serve_routes_and_stops() {
        let (_trigger, state) = setup(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));

        let health = raw_get(address, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
        assert!(health.ends_with("\r\n\r\nok"), "{health}");

        let ready = raw_get(address, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 503 "), "{ready}");

        let metrics = raw_get(address, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200 "), "{metrics}");
        let content_type = format!("content-type: {METRICS_CONTENT_TYPE}\r\n");
        assert!(metrics.to_ascii_lowercase().contains(&content_type), "{metrics}");

        let missing = raw_get(address, "/nope").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
