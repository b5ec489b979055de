//! The HTTP/1.1 server loop every role uses: the axum router on hyper, with the client's address
//! for each request (`ConnectInfo`, used by login rate limits), a header-read timeout and
//! graceful shutdown.
//!
//! `axum::serve` has no timer, so hyper's header-read timeout never fired: a client sending its
//! headers one byte at a time (slowloris), or opening connections and sending nothing, held a
//! connection and a task forever. Here a connection must deliver each request's complete header
//! block within `header_read_timeout` of starting it (or of going idle after a response), or it
//! is closed. Header size is bounded by hyper (`431` past ~400 KB or 100 headers).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use mp3converter_core::{ClientAddr, TrustedProxies};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// `router` with every request's client address decided once (a [`ClientAddr`] extension): the
/// TCP peer, or from a peer in `trusted` the right-most untrusted `X-Forwarded-For` hop. The
/// gateway's and the auth service's login rate limits key on it.
pub fn with_client_addr(router: Router, trusted: TrustedProxies) -> Router {
    let trusted = Arc::new(trusted);
    router.layer(axum::middleware::from_fn(
        move |mut request: Request, next: Next| {
            let trusted = trusted.clone();
            async move {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                if let Some(peer) = peer {
                    let forwarded = request
                        .headers()
                        .get_all("x-forwarded-for")
                        .iter()
                        .filter_map(|v| v.to_str().ok());
                    let client = trusted.client(peer, forwarded);
                    request.extensions_mut().insert(ClientAddr(client));
                }
                next.run(request).await
            }
        },
    ))
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits up to
/// `drain` for the open connections to finish their requests (idle ones are closed at once).
/// Connections still busy after `drain` (a download to a stalled client) are left to be closed
/// when the process exits: a shutdown never waits for a client longer than the grace period.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Every connection task holds a sender; when all are dropped, every connection is closed.
    let (open_tx, mut all_closed) = mpsc::channel::<Infallible>(1);
    let stop = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(remote).await;
        let hyper_service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut service = service.clone();
            async move { service.call(request.map(Body::new)).await }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
        let (open, stop) = (open_tx.clone(), stop.clone());
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%remote, %error, "connection closed with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    stop.cancel();
    drop(open_tx);
    if tokio::time::timeout(drain, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "connections still open at the end of the grace period are closed"
        );
    }
    Ok(())
}

/// Out of file descriptors and the like: wait a little instead of spinning. Errors of one
/// connection (reset before it was accepted) are not worth a pause.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
