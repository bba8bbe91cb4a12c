//! Forwarding a query to the upstream resolvers, from the daemon's own network
//! namespace (the sockets are made on a tokio worker, which never changes namespace).
//!
//! The query goes out with a random id of ours on a fresh socket with a random port;
//! the answer is passed on as the upstream wrote it, with the client's id put back.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Header, Message, MessageType, ResponseCode};
use hickory_proto::serialize::binary::BinDecodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::query::{encode, response_to, Transport};
use crate::serve::frame;

/// The largest upstream answer taken over UDP.
const MAX_UDP_ANSWER: usize = 4096;

/// Why one upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("no answer in time")]
    Timeout,
    #[error("socket error")]
    Io(#[from] io::Error),
    #[error("answered {0}")]
    Rcode(ResponseCode),
    #[error("the answer does not match the query")]
    Mismatch,
    #[error("the query does not fit in a DNS message")]
    TooLong,
}

/// A query on its way to the upstreams. Holds a permit of the server's bound on
/// in-flight forwards until it is done.
pub(crate) struct Job {
    pub(crate) request: Message,
    pub(crate) name: String,
    pub(crate) upstreams: Vec<SocketAddr>,
    pub(crate) transport: Transport,
    pub(crate) limit: usize,
    pub(crate) timeout: Duration,
    pub(crate) _permit: OwnedSemaphorePermit,
}

impl Job {
    /// Asks the upstreams in order; the bytes to send to the client (an upstream's
    /// answer, or `SERVFAIL`). `None` only if even `SERVFAIL` cannot be encoded.
    pub(crate) async fn run(mut self) -> Option<Vec<u8>> {
        let client_id = self.request.id();
        let our_id: u16 = rand::random();
        self.request.set_id(our_id);
        let wire = self.request.to_vec();
        self.request.set_id(client_id);
        let qtype = self.request.query().map(|q| q.query_type());
        match wire {
            Ok(wire) => {
                for &upstream in &self.upstreams {
                    match self.exchange(upstream, &wire, our_id).await {
                        Ok(mut answer) => {
                            debug!(name = self.name, qtype = ?qtype, source = %upstream, "DNS query forwarded");
                            // The id is the first 16 bits of a message (RFC 1035 4.1.1);
                            // `exchange` checked that the header is there.
                            answer[..2].copy_from_slice(&client_id.to_be_bytes());
                            return self.fit(answer);
                        }
                        Err(e) => {
                            debug!(name = self.name, qtype = ?qtype, %upstream, error = %e, "upstream resolver failed")
                        }
                    }
                }
            }
            Err(e) => debug!(name = self.name, error = %e, "re-encoding a query failed"),
        }
        debug!(name = self.name, qtype = ?qtype, source = "none", "DNS query: no upstream answered");
        encode(
            &response_to(&self.request, ResponseCode::ServFail),
            self.limit,
        )
    }

    /// An upstream answer within the client's size limit: a larger one is cut down
    /// to its question with the TC bit (the client retries over TCP).
    fn fit(&self, answer: Vec<u8>) -> Option<Vec<u8>> {
        if answer.len() <= self.limit {
            return Some(answer);
        }
        match Message::from_vec(&answer) {
            Ok(message) => encode(&message.truncate(), self.limit),
            Err(e) => {
                debug!(name = self.name, error = %e, "an oversized upstream answer does not parse");
                encode(
                    &response_to(&self.request, ResponseCode::ServFail),
                    self.limit,
                )
            }
        }
    }

    /// One upstream: over UDP first unless the client asked over TCP, over TCP when
    /// the UDP answer was truncated.
    async fn exchange(
        &self,
        upstream: SocketAddr,
        wire: &[u8],
        id: u16,
    ) -> Result<Vec<u8>, Failure> {
        if self.transport == Transport::Udp {
            let udp = udp_exchange(upstream, wire, id, self.limit);
            let answer = tokio::time::timeout(self.timeout, udp)
                .await
                .map_err(|_| Failure::Timeout)??;
            match answer {
                Some(answer) => return usable(answer),
                None => debug!(%upstream, "truncated answer over UDP: asking over TCP"),
            }
        }
        let tcp = tcp_exchange(upstream, wire, id);
        let answer = tokio::time::timeout(self.timeout, tcp)
            .await
            .map_err(|_| Failure::Timeout)??;
        usable(answer)
    }
}

/// The header of an answer to our query `id`, if `bytes` is one.
fn answer_header(bytes: &[u8], id: u16) -> Option<Header> {
    let header = Header::from_bytes(bytes).ok()?;
    (header.id() == id && header.message_type() == MessageType::Response).then_some(header)
}

/// `answer` unless the upstream could not or would not answer (then the next one is
/// asked).
fn usable(answer: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let header = Header::from_bytes(&answer).map_err(|_| Failure::Mismatch)?;
    match header.response_code() {
        rcode @ (ResponseCode::ServFail | ResponseCode::Refused) => Err(Failure::Rcode(rcode)),
        _ => Ok(answer),
    }
}

/// Sends `wire` over UDP and waits for the answer with `id` (anything else arriving
/// on the socket is ignored). `None` if the answer is truncated or larger than
/// `limit` (the caller asks over TCP).
async fn udp_exchange(
    upstream: SocketAddr,
    wire: &[u8],
    id: u16,
    limit: usize,
) -> Result<Option<Vec<u8>>, Failure> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(wire).await?;
    // One byte more than we take: a datagram that fills it is too large for the
    // client (or for us: larger answers are fetched over TCP, which keeps the memory
    // of a forward small whatever payload size the client announced).
    let limit = limit.min(MAX_UDP_ANSWER);
    let mut buf = vec![0; limit + 1];
    loop {
        let n = socket.recv(&mut buf).await?;
        let Some(header) = answer_header(&buf[..n], id) else {
            debug!(%upstream, "stray datagram on a forwarding socket ignored");
            continue;
        };
        if header.truncated() || n > limit {
            return Ok(None);
        }
        buf.truncate(n);
        return Ok(Some(buf));
    }
}

/// Sends `wire` over TCP (2-byte length framing) and reads the answer.
async fn tcp_exchange(upstream: SocketAddr, wire: &[u8], id: u16) -> Result<Vec<u8>, Failure> {
    let framed = frame(wire).ok_or(Failure::TooLong)?;
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut answer = vec![0; usize::from(len)];
    stream.read_exact(&mut answer).await?;
    answer_header(&answer, id).ok_or(Failure::Mismatch)?;
    Ok(answer)
}
