//! How sync messages travel: each request and each response is the CBOR of the message,
//! compressed as one zstd frame, alone on its stream.
//!
//! Records are CBOR maps whose field names, vocabulary codes and author keys repeat from
//! one record to the next: a batch of them compresses to well under half its size, and the
//! reconciliation frames (hashes and fingerprints) pass through at their size. Both the
//! compressed and the decompressed message are bounded, so a small frame that would expand
//! without end is refused like a large one.

use std::io::{self, Read};

use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sync::{self, Request, Response};

/// zstd's level for sync messages: its default, about 300 MB/s on one core.
const LEVEL: i32 = 3;
/// The largest window a frame may use: 8 MiB, past the largest message.
const WINDOW_LOG_MAX: u32 = 23;

/// A message's bytes on the wire.
pub fn encode<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let cbor = cbor4ii::serde::to_vec(Vec::new(), message).map_err(io::Error::other)?;
    zstd::bulk::compress(&cbor, LEVEL)
}

/// A message from its bytes on the wire, if it decompresses to at most `limit` bytes of
/// CBOR that decode as a `T`.
pub fn decode<T: DeserializeOwned>(wire: &[u8], limit: u64) -> io::Result<T> {
    let mut cbor = Vec::new();
    let mut decoder = zstd::stream::read::Decoder::new(wire)?;
    // A frame may ask for a window up to 128 MiB; none needs more than the message.
    decoder.window_log_max(WINDOW_LOG_MAX)?;
    decoder
        .take(limit + 1)
        .read_to_end(&mut cbor)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
    if cbor.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the message expands past {limit} bytes"),
        ));
    }
    cbor4ii::serde::from_slice(&cbor)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("CBOR: {e}")))
}

/// The request-response codec of [`sync::PROTOCOL`].
#[derive(Clone, Debug)]
pub struct Codec {
    limit: u64,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::with_limit(sync::MAX_MESSAGE)
    }
}

impl Codec {
    /// A codec that reads messages of at most `limit` bytes, compressed or not.
    pub fn with_limit(limit: u64) -> Codec {
        Codec { limit }
    }

    async fn read<T: DeserializeOwned>(
        &self,
        io: &mut (impl AsyncRead + Unpin + Send),
    ) -> io::Result<T> {
        let mut wire = Vec::new();
        io.take(self.limit).read_to_end(&mut wire).await?;
        decode(&wire, self.limit)
    }

    async fn write<T: Serialize>(
        io: &mut (impl AsyncWrite + Unpin + Send),
        message: &T,
    ) -> io::Result<()> {
        io.write_all(&encode(message)?).await
    }
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Codec::write(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Codec::write(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_records_shrink() {
        // Records alike in their field names and keys, as a node's are.
        let records: Vec<sync::Record> = (0..1000)
            .map(|i| {
                sync::Record(
                    format!("{{\"name\": \"Coopérative {i}\", \"country\": \"SN\", \"type\": \"essglobal:Cooperative\"}}")
                        .into_bytes(),
                )
            })
            .collect();
        let plain: usize = records.iter().map(|r| r.0.len()).sum();
        let response = Response::Records(records);
        let wire = encode(&response).unwrap();
        assert!(wire.len() * 4 < plain, "{} bytes for {plain}", wire.len());
        assert_eq!(
            decode::<Response>(&wire, sync::MAX_MESSAGE).unwrap(),
            response
        );
    }

    #[test]
    fn a_frame_that_expands_past_the_limit_is_refused() {
        let bomb = Request::Offer(vec![sync::Record(vec![0; 8 * 1024 * 1024])]);
        let wire = encode(&bomb).unwrap();
        assert!((wire.len() as u64) < sync::MAX_MESSAGE / 100);
        let e = decode::<Request>(&wire, sync::MAX_MESSAGE).unwrap_err();
        assert!(e.to_string().contains("expands past"), "{e}");
    }

    #[test]
    fn plain_cbor_and_garbage_are_refused_with_the_reason() {
        let cbor = cbor4ii::serde::to_vec(Vec::new(), &Request::Fetch(vec![])).unwrap();
        let e = decode::<Request>(&cbor, sync::MAX_MESSAGE).unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        let wire = zstd::bulk::compress(b"not cbor at all", 3).unwrap();
        let e = decode::<Request>(&wire, sync::MAX_MESSAGE).unwrap_err();
        assert!(e.to_string().contains("CBOR"), "{e}");
    }
}
