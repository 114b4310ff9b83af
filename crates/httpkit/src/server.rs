//! Serving: the standard layers every router gets, graceful shutdown and the serve loop.

use std::future::Future;

use axum::{Extension, Router, extract::DefaultBodyLimit, middleware};
use tokio::net::TcpListener;

use crate::{ApiError, telemetry::log_requests};

/// The request body limit in force, in request extensions so a 413 can state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// Adds what every service needs: 404 and 405 problems, the body limit and request logging.
///
/// Call it after all routes are added: the 405 fallback attaches to the routes registered so
/// far. The limit is enforced by the body extractors ([`crate::ApiJson`], [`crate::ApiBytes`]),
/// which answer with a 413 `BODY_TOO_LARGE` problem.
pub fn finish<S>(router: Router<S>, body_limit_bytes: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(Extension(BodyLimit(body_limit_bytes)))
        .layer(middleware::from_fn(log_requests))
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Completes on SIGTERM (how orchestrators stop containers) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
