//! The HTTP server loop, with the limits that keep a node up when clients misbehave: a cap
//! on connections (past it, a short 503 and the connection closed), a deadline for a
//! request's head (hyper's, which also closes a kept-alive connection that sends no next
//! request), a bounded buffer per connection, and a connection cut once its writes have
//! waited [`IDLE`] without a byte going out (a reader of the event stream that stopped
//! reading). Request bodies have their own deadline, where they are read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

/// Connections served at once (each needs a file descriptor: the node's limit on open files
/// must be above it).
pub const MAX_CONNECTIONS: usize = 2048;
/// Time a client has to send a request's head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection whose writes have waited this long without a byte going out is closed.
pub const IDLE: Duration = Duration::from_secs(45);
/// What one connection may buffer, in each direction.
const BUFFER: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(BUFFER);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most often: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "HTTP connections are all taken; answering 503");
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(TokioIo::new(Idle::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
}

async fn refuse(mut stream: TcpStream) {
    let body = format!(
        "this node serves {MAX_CONNECTIONS} HTTP connections at once and all are taken; try again shortly\n"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 5\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(answer.as_bytes())).await;
}

/// A stream whose writes fail once they have waited [`IDLE`] without a byte going out: a
/// reader that stopped reading. Reads are left to hyper's head timeout and the body
/// deadline, so a response that takes long to start (a large export) is not cut.
struct Idle<T> {
    inner: T,
    /// Set while a write waits.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> Idle<T> {
    fn new(inner: T) -> Idle<T> {
        Idle {
            inner,
            stalled: None,
        }
    }

    /// After a write or flush of the inner stream: bytes out clear the clock, waiting runs it.
    fn watch<R>(&mut self, cx: &mut Context<'_>, step: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if step.is_ready() {
            self.stalled = None;
            return step;
        }
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(IDLE)));
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client has read nothing for a while",
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let step = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, step)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let step = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, step)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
