//! Stream helpers: Docker's stdcopy framing, JSON message lines, and the hijacked
//! connection used by attach and exec.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio_util::io::ReaderStream;

use crate::backend::{StdStream, StreamPlan};

/// Frames `data` with Docker's 8-byte stdcopy header: stream id, three zero
/// bytes, big-endian length.
pub fn stdcopy_frame(stream: StdStream, data: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(8 + data.len());
    buf.put_u8(stream as u8);
    buf.put_slice(&[0, 0, 0]);
    buf.put_u32(data.len() as u32);
    buf.put_slice(data);
    buf.freeze()
}

/// One line of Docker's JSON message stream (`{"stream": ...}`, `{"status": ...}`).
pub fn json_line(value: &serde_json::Value) -> Bytes {
    let mut v = serde_json::to_vec(value).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// A response streaming each item of `items` as one JSON document per line
/// (`GET /events`, `GET /containers/{id}/stats`).
pub fn json_lines_response<T, S>(items: S) -> Response
where
    T: serde::Serialize,
    S: futures::Stream<Item = T> + Send + 'static,
{
    use futures::StreamExt;
    let body = items.map(|item| {
        let mut line = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
        line.push(b'\n');
        Ok::<Bytes, std::io::Error>(Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Answers an attach/exec request: `101 Switching Protocols` when the client asked
/// for an upgrade (docker CLI, SDKs), then hands the raw connection to the plan.
/// Without an upgrade header, streams the output as a plain response body.
pub fn hijack(req: Request, plan: StreamPlan) -> Response {
    let content_type = if plan.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let wants_upgrade = req.headers().contains_key(header::UPGRADE);
    if wants_upgrade {
        let on_upgrade = hyper::upgrade::on(req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => (plan.run)(Box::new(TokioIo::new(upgraded))).await,
                Err(e) => tracing::warn!(error = %e, "connection upgrade failed"),
            }
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    } else {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn((plan.run)(Box::new(theirs)));
        let mut resp = Response::new(Body::from_stream(ReaderStream::new(ours)));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let f = stdcopy_frame(StdStream::Stderr, b"hi");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
