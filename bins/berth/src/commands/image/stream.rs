//! The JSON message streams of pull, push, load, import and build, shown
//! as docker shows them.

use anyhow::{anyhow, Result};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::client::body_stream;
use crate::jsonmessage::{JsonDisplay, JsonMessage};

/// Splits a byte stream into JSON values (newline-delimited or
/// concatenated), each decoded as a `T`.
pub fn json_values<T, S>(s: S) -> impl Stream<Item = Result<T>>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    futures::stream::unfold(
        (s, Vec::<u8>::new(), false),
        |(mut s, mut buf, mut done)| async move {
            loop {
                // Try to parse one value from the buffer.
                let start = buf.iter().position(|b| !b.is_ascii_whitespace());
                match start {
                    None => buf.clear(),
                    Some(i) => {
                        let mut de =
                            serde_json::Deserializer::from_slice(&buf[i..]).into_iter::<T>();
                        match de.next() {
                            Some(Ok(v)) => {
                                let used = i + de.byte_offset();
                                buf.drain(..used);
                                return Some((Ok(v), (s, buf, done)));
                            }
                            Some(Err(e)) if e.is_eof() && !done => {}
                            Some(Err(e)) => {
                                buf.clear();
                                return Some((Err(anyhow!(e)), (s, buf, true)));
                            }
                            None => buf.clear(),
                        }
                    }
                }
                if done {
                    return None;
                }
                match s.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Some((Err(e), (s, buf, true))),
                    None => done = true,
                }
            }
        },
    )
}

/// Displays a JSON message response; errors in the stream become errors.
pub async fn display_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    to_stderr: bool,
) -> Result<JsonDisplay> {
    display_stream_into(resp, JsonDisplay::new(to_stderr)).await
}

/// [`display_stream`] with a given display.
pub async fn display_stream_into(
    resp: hyper::Response<hyper::body::Incoming>,
    mut d: JsonDisplay,
) -> Result<JsonDisplay> {
    let mut vals = Box::pin(json_values::<JsonMessage, _>(Box::pin(body_stream(resp))));
    while let Some(v) = vals.next().await {
        d.show(&v?)?;
    }
    Ok(d)
}

/// [`display_stream_into`] for a build: a step taken from the cache says
/// `CACHED` (as BuildKit does) where the classic builder's stream, which the
/// docker CLI shows as is, says `Using cache`.
pub(super) async fn display_build_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    mut d: JsonDisplay,
) -> Result<JsonDisplay> {
    let mut vals = Box::pin(json_values::<JsonMessage, _>(Box::pin(body_stream(resp))));
    while let Some(v) = vals.next().await {
        let mut v = v?;
        if v.stream == " ---> Using cache\n" {
            v.stream = " ---> CACHED\n".into();
        }
        d.show(&v)?;
    }
    Ok(d)
}

/// A display that shows nothing (`-q`).
pub(super) fn quiet_display() -> JsonDisplay {
    JsonDisplay::with_writer(Box::new(std::io::sink()), false)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[tokio::test]
    async fn json_value_stream() {
        let chunks: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"{\"status\":\"a\"}\r\n{\"str")),
            Ok(Bytes::from_static(b"eam\":\"b\\n\"}{\"x\":1}")),
        ];
        let vals: Vec<Value> = json_values(futures::stream::iter(chunks))
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(
            vals,
            vec![
                json!({"status": "a"}),
                json!({"stream": "b\n"}),
                json!({"x": 1})
            ]
        );
    }
}
