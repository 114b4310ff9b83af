//! Serving: the standard layers every router gets, graceful shutdown and the serve loop with
//! the request limits every listener enforces ([`crate::limits`]).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use axum::{
    Extension, Router,
    body::{Body, BodyDataStream, Bytes, HttpBody},
    extract::{DefaultBodyLimit, Request},
    middleware::{self, Next},
    response::Response,
};
use futures::Stream;
use http::{HeaderValue, header};
use hyper::body::Incoming;
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use crate::limits::RequestLimits;
use crate::{ApiError, limits, telemetry::log_requests};

/// The request body limit in force, in request extensions so a 413 can state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// Adds what every service needs: 404 and 405 problems, the body limit, request logging and
/// `Connection: close` on answers given before the request's body was read.
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
        .layer(middleware::from_fn(close_if_body_unread))
}

/// A request refused before its body was read (401, 403, 404, 405, 413, 415 ...) leaves the
/// rest of that body on the connection, so hyper cannot take another request from it and closes
/// it after the answer. Saying so with `Connection: close` lets the client open a new connection
/// instead of sending its next request into one that is going away (and seeing it fail).
///
/// Draining the body instead would keep the connection, but would make the server read (up to
/// the limit) what a caller it already refused sends.
async fn close_if_body_unread(request: Request, next: Next) -> Response {
    let read = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        if body.is_end_stream() {
            read.store(true, Ordering::Release);
            body
        } else {
            Body::from_stream(TrackedBody {
                inner: body.into_data_stream(),
                read: Arc::clone(&read),
            })
        }
    });
    let mut response = next.run(request).await;
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct TrackedBody {
    inner: BodyDataStream,
    read: Arc<AtomicBool>,
}

impl Stream for TrackedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        Stream::size_hint(&self.inner)
    }
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

/// [`serve_with`] the default [`RequestLimits`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, RequestLimits::default(), shutdown).await
}

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` completes, then stops accepting
/// and lets the requests in flight finish. Every request passes `limits` first (a problem over
/// them, before any route or fallback), and hyper holds at most the limits' hard bound of one
/// request head.
///
/// Not `axum::serve`: it offers no way to set hyper's header bounds, so without them a
/// connection could make the server buffer ~400 KB of header fields and parse 100 of them.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: RequestLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router.layer(middleware::from_fn_with_state(limits, limits::enforce));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_headers(limits.hard_max_headers())
        .max_header_size(limits.hard_max_head_bytes());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service
            .clone()
            .map_request(|request: Request<Incoming>| request.map(Body::new));
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client going away mid-request; nothing for an operator.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A failed accept. The peer's own failures are skipped; anything else (out of file
/// descriptors, typically) is logged and the loop pauses, as hyper's server used to, so it
/// does not spin while nothing can be accepted.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; pausing for a second");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ApiBytes;

    /// Sends `request` on `stream` and reads one response (head and `Content-Length` body).
    async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> String {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&response).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|length| length.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
        }
        String::from_utf8_lossy(&response).to_string()
    }

    #[tokio::test]
    async fn answers_given_before_the_body_is_read_close_the_connection() {
        let routes = Router::new()
            .route("/refuse", post(|| async { ApiError::unauthorized() }))
            .route(
                "/read",
                post(|ApiBytes(body): ApiBytes| async move { body.len().to_string() }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            finish(routes, 1024),
            std::future::pending(),
        ));
        let post = |path: &str, body: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let refused = exchange(&mut stream, &post("/refuse", "{\"a\":1}")).await;
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        assert!(
            refused.to_ascii_lowercase().contains("connection: close"),
            "{refused}"
        );

        // A body that was read keeps the connection for the next request.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let first = exchange(&mut stream, &post("/read", "{\"a\":1}")).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(
            !first.to_ascii_lowercase().contains("connection: close"),
            "{first}"
        );
        let second = exchange(&mut stream, &post("/read", "{}")).await;
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        assert!(second.ends_with("\r\n\r\n2"), "{second}");

        // A request without a body keeps it too, whatever the answer.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let missing = "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n";
        let first = exchange(&mut stream, missing).await;
        assert!(first.starts_with("HTTP/1.1 404"), "{first}");
        assert!(
            !first.to_ascii_lowercase().contains("connection: close"),
            "{first}"
        );
        let second = exchange(&mut stream, missing).await;
        assert!(second.starts_with("HTTP/1.1 404"), "{second}");
    }
}
