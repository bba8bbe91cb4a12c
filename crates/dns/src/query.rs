//! One query: parsed once, answered from [`Names`] when it is a container name, else
//! turned into a forwarding [`Job`]. Synchronous and cheap: no task is spawned for a
//! query answered locally.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::sync::Semaphore;
use tracing::debug;

use crate::forward::Job;
use crate::{Config, Names};

/// TTL of local answers, as Docker's.
const TTL: u32 = 600;
/// The classic UDP payload limit, for clients that sent no EDNS OPT record.
const UDP_LIMIT: usize = 512;
/// The payload size we advertise in the OPT record of our answers.
const OUR_PAYLOAD: u16 = 4096;
/// Names with a round-robin counter; past this the counters start over (a bound
/// against a client asking for ever new names the daemon knows).
const MAX_ROTATED_NAMES: usize = 4096;

/// Which transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What to do with a packet.
pub(crate) enum Action {
    /// Send these bytes back (already sized for the transport).
    Reply(Vec<u8>),
    /// Ask the upstreams, then send what [`Job::run`] returns.
    Forward(Box<Job>),
    /// Not a query we answer (malformed, or a response): say nothing.
    Drop,
}

/// State shared by all listeners of a [`crate::DnsServer`].
pub(crate) struct Shared {
    names: Arc<dyn Names>,
    rotation: Rotation,
    forwards: Arc<Semaphore>,
    pub(crate) config: Config,
}

impl Shared {
    pub(crate) fn new(names: Arc<dyn Names>, config: Config) -> Self {
        Self {
            names,
            rotation: Rotation::default(),
            forwards: Arc::new(Semaphore::new(config.max_forwards)),
            config,
        }
    }

    /// Decides what to answer to `packet`, which came in for container `asker`.
    pub(crate) fn handle(&self, asker: &str, packet: &[u8], transport: Transport) -> Action {
        let request = match Message::from_vec(packet) {
            Ok(m) => m,
            Err(e) => {
                debug!(asker, error = %e, "malformed DNS packet dropped");
                return Action::Drop;
            }
        };
        if request.message_type() != MessageType::Query {
            debug!(asker, "DNS response sent to the server dropped");
            return Action::Drop;
        }
        let limit = match transport {
            Transport::Udp => udp_limit(&request),
            Transport::Tcp => usize::from(u16::MAX),
        };
        if request.op_code() != OpCode::Query {
            debug!(asker, op = ?request.op_code(), "DNS operation not implemented");
            return reply(response_to(&request, ResponseCode::NotImp), limit);
        }
        let [query] = request.queries() else {
            debug!(
                asker,
                count = request.queries().len(),
                "DNS query without exactly one question"
            );
            return reply(response_to(&request, ResponseCode::FormErr), limit);
        };
        let name = lower_name(query.name());
        if let Some(answer) = self.local(asker, &request, query, &name) {
            debug!(
                asker,
                name,
                qtype = %query.query_type(),
                answers = answer.answers().len(),
                source = "local",
                "DNS query"
            );
            return reply(answer, limit);
        }
        let upstreams = self.names.upstreams(asker);
        if upstreams.is_empty() {
            debug!(asker, name, qtype = %query.query_type(), source = "none", "DNS query: no upstream resolver");
            return reply(response_to(&request, ResponseCode::ServFail), limit);
        }
        let Ok(permit) = self.forwards.clone().try_acquire_owned() else {
            debug!(asker, name, qtype = %query.query_type(), "DNS query: too many forwards in flight");
            return reply(response_to(&request, ResponseCode::ServFail), limit);
        };
        Action::Forward(Box::new(Job {
            request,
            name,
            upstreams,
            transport,
            limit,
            timeout: self.config.upstream_timeout,
            _permit: permit,
        }))
    }

    /// The answer to a question about a container name, or `None` to forward.
    fn local(&self, asker: &str, request: &Message, query: &Query, name: &str) -> Option<Message> {
        if query.query_class() != DNSClass::IN {
            return None;
        }
        let qtype = query.query_type();
        let rdatas: Vec<RData> = match qtype {
            RecordType::A | RecordType::AAAA => {
                let v6 = qtype == RecordType::AAAA;
                let all = self.names.lookup(asker, name);
                if all.is_empty() {
                    return None;
                }
                let mut ips: Vec<IpAddr> =
                    all.into_iter().filter(|ip| ip.is_ipv6() == v6).collect();
                if ips.len() > 1 {
                    let first = self.rotation.next(name, v6, ips.len());
                    ips.rotate_left(first);
                }
                ips.into_iter()
                    .map(|ip| match ip {
                        IpAddr::V4(a) => RData::A(A(a)),
                        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
                    })
                    .collect()
            }
            RecordType::PTR => {
                let ip = arpa_address(query.name())?;
                let target = self.names.reverse(asker, ip)?;
                let mut target = match Name::from_ascii(&target) {
                    Ok(n) => n,
                    Err(e) => {
                        debug!(asker, target, error = %e, "reverse name is not a DNS name: forwarding");
                        return None;
                    }
                };
                target.set_fqdn(true);
                vec![RData::PTR(PTR(target))]
            }
            _ => return None,
        };
        let mut answer = response_to(request, ResponseCode::NoError);
        answer.set_authoritative(true);
        for rdata in rdatas {
            // The owner name as asked: clients that randomise case (0x20) check it.
            answer.add_answer(Record::from_rdata(query.name().clone(), TTL, rdata));
        }
        Some(answer)
    }
}

/// A response skeleton for `request`: its id, question and flags, our OPT record if
/// it sent one.
pub(crate) fn response_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(request.checking_disabled())
        .set_response_code(rcode)
        .add_queries(request.queries().iter().cloned());
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

/// Encodes `response`; one that does not fit in `limit` bytes is sent truncated
/// (header, question and OPT record, TC bit set).
pub(crate) fn reply(response: Message, limit: usize) -> Action {
    match encode(&response, limit) {
        Some(bytes) => Action::Reply(bytes),
        None => Action::Drop,
    }
}

/// Like [`reply`], as bytes; `None` if hickory cannot encode it (logged).
pub(crate) fn encode(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let encoded = match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Ok(bytes),
        Ok(_) => response.truncate().to_vec(),
        Err(e) => Err(e),
    };
    match encoded {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            debug!(error = %e, "encoding a DNS answer failed");
            None
        }
    }
}

/// The largest UDP answer the client of `request` takes.
fn udp_limit(request: &Message) -> usize {
    request.extensions().as_ref().map_or(UDP_LIMIT, |edns| {
        usize::from(edns.max_payload()).max(UDP_LIMIT)
    })
}

/// `name` as [`Names`] takes it: lower-case, no trailing dot.
fn lower_name(name: &Name) -> String {
    let mut s = name.to_ascii();
    s.make_ascii_lowercase();
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// The address a full `in-addr.arpa`/`ip6.arpa` name stands for (`None` for a
/// partial one, which is a zone, not an address).
fn arpa_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

/// Round-robin counters per name and family.
#[derive(Default)]
struct Rotation {
    counters: Mutex<HashMap<String, [usize; 2]>>,
}

impl Rotation {
    /// Where the answer to this query for `name` starts among `len` addresses.
    fn next(&self, name: &str, v6: bool, len: usize) -> usize {
        let family = usize::from(v6);
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = counters.get_mut(name) {
            let at = c[family];
            c[family] = at.wrapping_add(1);
            return at % len;
        }
        if counters.len() >= MAX_ROTATED_NAMES {
            counters.clear();
        }
        let mut c = [0; 2];
        c[family] = 1;
        counters.insert(name.to_owned(), c);
        0
    }
}
