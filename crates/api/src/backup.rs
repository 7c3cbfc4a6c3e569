//! `GET /api/v1/backup`: the store as it is durable at the moment of the request, as a tar
//! of a store folder (`store/<file>`), streamed while the node goes on taking writes.
//! `maillage backup` reads it, adds the node's key and settings, and checks the copy opens.

use std::io::Write;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::Sender;
use tokio_stream::wrappers::ReceiverStream;

use crate::{Error, State, blocking};

/// Bytes gathered before a piece of the archive is sent.
const PIECE: usize = 256 * 1024;

#[tracing::instrument(skip_all)]
pub(crate) async fn backup(
    Extract(state): Extract<State>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    state.authorize(&headers)?;
    let store = state.ingest.store().clone();
    let snapshot = blocking(move || Ok(store.snapshot()?)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let files = snapshot.files.len();
        let bytes: u64 = snapshot.files.iter().map(|f| f.len).sum();
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tar = tar::Builder::new(Pieces {
            tx: tx.clone(),
            buf: Vec::with_capacity(PIECE),
        });
        let written = snapshot.files.iter().try_for_each(|file| {
            let mut head = tar::Header::new_ustar();
            head.set_size(file.len);
            head.set_mode(0o600);
            head.set_mtime(mtime);
            head.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut head, format!("store/{}", file.name), file.reader())
        });
        match written.and_then(|()| tar.into_inner()?.flush()) {
            Ok(()) => tracing::info!(files, bytes, "sent a backup of the store"),
            Err(e) => {
                tracing::warn!(error = %e, "a backup was cut off before its end");
                // The reader sees the body end in an error, not a short archive.
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"maillage-store.tar\"",
            ),
        ],
        HttpBody::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Sends what is written in pieces of [`PIECE`] bytes.
struct Pieces {
    tx: Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for Pieces {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= PIECE {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx.blocking_send(Ok(piece)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })
    }
}
