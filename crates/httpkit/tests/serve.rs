//! `serve` over a real socket: requests are answered and shutdown drains in-flight requests.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::time::Duration;

use axum::{Router, routing::get};
use httpkit::server;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

async fn get_over_tcp(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn serves_until_shutdown_and_finishes_in_flight_requests() {
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let routes = Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/slow",
            get(move || {
                if let Some(tx) = entered_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    "slow"
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        server::finish(routes, 1024),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let fast = get_over_tcp(addr, "/fast").await;
    assert!(fast.starts_with("HTTP/1.1 200"), "{fast}");
    assert!(fast.ends_with("fast"), "{fast}");

    let slow = tokio::spawn(get_over_tcp(addr, "/slow"));
    entered_rx.await.unwrap();
    stop_tx.send(()).unwrap();
    let slow = slow.await.unwrap();
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    assert!(slow.ends_with("slow"), "{slow}");

    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener is closed"
    );
}
