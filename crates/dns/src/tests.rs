//! The server over real sockets on 127.0.0.1, with a fake [`Names`] and fake
//! upstream resolvers; one root test in a network namespace of its own.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::serve::frame;
use crate::{upstreams_from_resolv_conf, Config, DnsServer, Listener, Names};

const ASKER: &str = "c1";
const WEB4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const WEB6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

struct FakeNames {
    names: HashMap<String, Vec<IpAddr>>,
    reverse: HashMap<IpAddr, String>,
    upstreams: Vec<SocketAddr>,
}

impl FakeNames {
    fn new(upstreams: Vec<SocketAddr>) -> Self {
        let mut names = HashMap::new();
        let web = vec![IpAddr::V4(WEB4), IpAddr::V6(WEB6)];
        names.insert("web".to_owned(), web.clone());
        names.insert("web.net1".to_owned(), web);
        names.insert("v4only".to_owned(), vec![IpAddr::V4(WEB4)]);
        let rr = (1..=3)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 1, i)))
            .collect();
        names.insert("rr".to_owned(), rr);
        let big = (1..=100)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 2, i)))
            .collect();
        names.insert("big".to_owned(), big);
        let mut reverse = HashMap::new();
        reverse.insert(IpAddr::V4(WEB4), "web.net1".to_owned());
        reverse.insert(IpAddr::V6(WEB6), "web.net1".to_owned());
        Self {
            names,
            reverse,
            upstreams,
        }
    }
}

impl Names for FakeNames {
    fn lookup(&self, asker: &str, name: &str) -> Vec<IpAddr> {
        if asker != ASKER {
            return Vec::new();
        }
        self.names.get(name).cloned().unwrap_or_default()
    }

    fn reverse(&self, asker: &str, ip: IpAddr) -> Option<String> {
        if asker != ASKER {
            return None;
        }
        self.reverse.get(&ip).cloned()
    }

    fn upstreams(&self, _asker: &str) -> Vec<SocketAddr> {
        self.upstreams.clone()
    }
}

fn test_config() -> Config {
    Config {
        upstream_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

fn start_as(names: FakeNames, config: Config, asker: &str) -> (DnsServer, Listener) {
    let server = DnsServer::with_config(Arc::new(names), config);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = server.serve(udp, tcp, asker).unwrap();
    (server, listener)
}

fn start(upstreams: Vec<SocketAddr>) -> Listener {
    start_as(FakeNames::new(upstreams), test_config(), ASKER).1
}

/// What a fake upstream does with a query.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `A` queries get [`UPSTREAM_IP`], others NXDOMAIN.
    Answer,
    /// Never answers.
    Silent,
    /// Answers SERVFAIL.
    ServFail,
    /// Answers truncated (TC, no records) over UDP, fully over TCP.
    TruncateUdp,
    /// Answers 100 `A` records, over UDP too (ignoring the 512-byte limit).
    Big,
}

/// A tiny resolver on 127.0.0.1 (UDP and TCP on the same port) counting queries.
struct Upstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Upstream {
    /// Queries received so far: (over UDP, over TCP).
    fn queries(&self) -> (usize, usize) {
        (
            self.udp_queries.load(Ordering::SeqCst),
            self.tcp_queries.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn upstream_answer(mode: Mode, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut answer = Message::new();
    answer
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .add_queries(query.queries().iter().cloned());
    let q = query.query()?.clone();
    match mode {
        Mode::Silent => return None,
        Mode::ServFail => {
            answer.set_response_code(ResponseCode::ServFail);
        }
        Mode::TruncateUdp if !tcp => {
            answer.set_truncated(true);
        }
        Mode::Big => {
            for i in 1..=100 {
                let rdata = RData::A(A(Ipv4Addr::new(192, 0, 2, i)));
                answer.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
            }
        }
        Mode::Answer | Mode::TruncateUdp => {
            if q.query_type() == RecordType::A {
                let rdata = RData::A(A(UPSTREAM_IP));
                answer.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
            } else {
                answer.set_response_code(ResponseCode::NXDomain);
            }
        }
    }
    Some(answer.to_vec().unwrap())
}

async fn upstream(mode: Mode) -> Upstream {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_queries = Arc::new(AtomicUsize::new(0));
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let count = udp_queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0; 65535];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            if let Some(answer) = upstream_answer(mode, &buf[..n], false) {
                udp.send_to(&answer, peer).await.unwrap();
            }
        }
    });
    let count = tcp_queries.clone();
    let tcp_task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                while let Ok(len) = stream.read_u16().await {
                    let mut buf = vec![0; usize::from(len)];
                    stream.read_exact(&mut buf).await.unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    match upstream_answer(mode, &buf, true) {
                        Some(answer) => stream.write_all(&frame(&answer).unwrap()).await.unwrap(),
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                }
            });
        }
    });
    Upstream {
        addr,
        udp_queries,
        tcp_queries,
        tasks: vec![udp_task, tcp_task],
    }
}

/// A server whose only upstream is a fake one in `mode`.
async fn with_upstream(mode: Mode) -> (Upstream, Listener) {
    let up = upstream(mode).await;
    let l = start(vec![up.addr]);
    (up, l)
}

fn question(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(rand::random())
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

async fn udp_exchange(server: SocketAddr, query: &Message) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("no UDP answer in 5 s")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(answer.id(), query.id());
    assert_eq!(answer.message_type(), MessageType::Response);
    answer
}

async fn udp_ask(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    udp_exchange(server, &question(name, qtype)).await
}

async fn tcp_exchange(stream: &mut TcpStream, query: &Message) -> Message {
    let wire = frame(&query.to_vec().unwrap()).unwrap();
    stream.write_all(&wire).await.unwrap();
    let read = async {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no TCP answer in 5 s");
    let answer = Message::from_vec(&buf).unwrap();
    assert_eq!(answer.id(), query.id());
    answer
}

fn ips(answer: &Message) -> Vec<IpAddr> {
    answer
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_query_answers_the_ipv4_addresses_authoritatively() {
    let l = start(Vec::new());
    let answer = udp_ask(l.udp_addr(), "web.", RecordType::A).await;
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    assert!(answer.authoritative());
    assert!(answer.recursion_available());
    assert!(!answer.truncated());
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);
    assert_eq!(answer.answers()[0].ttl(), 600);
    assert_eq!(answer.queries(), question("web.", RecordType::A).queries());
}

#[tokio::test]
async fn aaaa_query_answers_the_ipv6_addresses() {
    let l = start(Vec::new());
    let answer = udp_ask(l.udp_addr(), "web.net1.", RecordType::AAAA).await;
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    assert_eq!(ips(&answer), vec![IpAddr::V6(WEB6)]);
}

#[tokio::test]
async fn known_name_without_the_family_is_noerror_without_records() {
    let (up, l) = with_upstream(Mode::Answer).await;
    let answer = udp_ask(l.udp_addr(), "v4only.", RecordType::AAAA).await;
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    assert!(answer.authoritative());
    assert!(answer.answers().is_empty());
    assert_eq!(up.queries(), (0, 0), "must not forward");
}

#[tokio::test]
async fn names_are_case_insensitive_and_the_owner_name_is_echoed() {
    let l = start(Vec::new());
    let answer = udp_ask(l.udp_addr(), "WeB.NeT1.", RecordType::A).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);
    assert_eq!(answer.answers()[0].name().to_ascii(), "WeB.NeT1.");
    // Without the trailing dot on the wire side too (a relative name).
    let answer = udp_ask(l.udp_addr(), "WEB", RecordType::A).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);
}

#[tokio::test]
async fn several_addresses_rotate_round_robin() {
    let l = start(Vec::new());
    let mut firsts = Vec::new();
    for _ in 0..4 {
        let answer = udp_ask(l.udp_addr(), "rr.", RecordType::A).await;
        let got = ips(&answer);
        assert_eq!(got.len(), 3);
        firsts.push(got[0]);
    }
    let ip = |i| IpAddr::V4(Ipv4Addr::new(10, 0, 1, i));
    assert_eq!(firsts, vec![ip(1), ip(2), ip(3), ip(1)]);
}

#[tokio::test]
async fn ptr_answers_container_names_and_forwards_the_rest() {
    let (up, l) = with_upstream(Mode::Answer).await;
    for ip in [IpAddr::V4(WEB4), IpAddr::V6(WEB6)] {
        let name = Name::from(ip).to_ascii();
        let answer = udp_ask(l.udp_addr(), &name, RecordType::PTR).await;
        assert_eq!(answer.response_code(), ResponseCode::NoError, "{name}");
        assert!(answer.authoritative());
        let targets: Vec<_> = answer
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::PTR(PTR(n)) => Some(n.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec!["web.net1.".to_owned()], "{name}");
    }
    assert_eq!(up.queries(), (0, 0));
    let unknown = Name::from(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9))).to_ascii();
    let answer = udp_ask(l.udp_addr(), &unknown, RecordType::PTR).await;
    assert_eq!(answer.response_code(), ResponseCode::NXDomain);
    assert_eq!(up.queries(), (1, 0));
}

#[tokio::test]
async fn unknown_names_and_other_types_are_forwarded_with_the_clients_id() {
    let (up, l) = with_upstream(Mode::Answer).await;
    let answer = udp_ask(l.udp_addr(), "example.com.", RecordType::A).await;
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    assert!(!answer.authoritative());
    assert_eq!(ips(&answer), vec![IpAddr::V4(UPSTREAM_IP)]);
    // A known name but a type that is not ours.
    let answer = udp_ask(l.udp_addr(), "web.", RecordType::MX).await;
    assert_eq!(answer.response_code(), ResponseCode::NXDomain);
    assert_eq!(up.queries(), (2, 0));
}

#[tokio::test]
async fn names_are_asked_for_the_listeners_container() {
    let up = upstream(Mode::Answer).await;
    let (_server, l) = start_as(FakeNames::new(vec![up.addr]), test_config(), "c2");
    let answer = udp_ask(l.udp_addr(), "web.", RecordType::A).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(up.queries(), (1, 0));
}

#[tokio::test]
async fn a_silent_or_failing_upstream_moves_on_to_the_next() {
    let silent = upstream(Mode::Silent).await;
    let failing = upstream(Mode::ServFail).await;
    let good = upstream(Mode::Answer).await;
    let l = start(vec![silent.addr, failing.addr, good.addr]);
    let began = Instant::now();
    let answer = udp_ask(l.udp_addr(), "example.com.", RecordType::A).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert!(began.elapsed() >= Duration::from_millis(300));
    for up in [&silent, &failing, &good] {
        assert_eq!(up.queries(), (1, 0));
    }
}

#[tokio::test]
async fn no_upstream_at_all_is_servfail_at_once() {
    let l = start(Vec::new());
    let began = Instant::now();
    let answer = udp_ask(l.udp_addr(), "example.com.", RecordType::A).await;
    assert_eq!(answer.response_code(), ResponseCode::ServFail);
    assert!(began.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn no_upstream_answering_is_servfail() {
    let silent = upstream(Mode::Silent).await;
    let failing = upstream(Mode::ServFail).await;
    let l = start(vec![silent.addr, failing.addr]);
    let answer = udp_ask(l.udp_addr(), "example.com.", RecordType::A).await;
    assert_eq!(answer.response_code(), ResponseCode::ServFail);
    assert!(answer.answers().is_empty());
}

#[tokio::test]
async fn a_big_answer_is_truncated_over_udp_and_complete_over_tcp() {
    let l = start(Vec::new());
    let answer = udp_ask(l.udp_addr(), "big.", RecordType::A).await;
    assert!(answer.truncated());
    assert!(answer.answers().is_empty());
    assert_eq!(answer.queries().len(), 1);

    // A client announcing a larger UDP payload gets it all.
    let mut query = question("big.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    query.set_edns(edns);
    let answer = udp_exchange(l.udp_addr(), &query).await;
    assert!(!answer.truncated());
    assert_eq!(ips(&answer).len(), 100);

    let mut stream = TcpStream::connect(l.tcp_addr()).await.unwrap();
    let answer = tcp_exchange(&mut stream, &question("big.", RecordType::A)).await;
    assert!(!answer.truncated());
    assert_eq!(ips(&answer).len(), 100);
}

#[tokio::test]
async fn tcp_serves_several_queries_per_connection_and_forwards_over_tcp() {
    let (up, l) = with_upstream(Mode::Answer).await;
    let mut stream = TcpStream::connect(l.tcp_addr()).await.unwrap();
    let answer = tcp_exchange(&mut stream, &question("web.", RecordType::A)).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);
    let answer = tcp_exchange(&mut stream, &question("web.", RecordType::AAAA)).await;
    assert_eq!(ips(&answer), vec![IpAddr::V6(WEB6)]);
    let answer = tcp_exchange(&mut stream, &question("example.com.", RecordType::A)).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(up.queries(), (0, 1));
}

#[tokio::test]
async fn a_truncated_upstream_answer_is_asked_again_over_tcp() {
    let (up, l) = with_upstream(Mode::TruncateUdp).await;
    let answer = udp_ask(l.udp_addr(), "example.com.", RecordType::A).await;
    assert!(!answer.truncated());
    assert_eq!(ips(&answer), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(up.queries(), (1, 1));
}

#[tokio::test]
async fn a_forwarded_answer_too_big_for_the_client_is_truncated() {
    let (up, l) = with_upstream(Mode::Big).await;
    let answer = udp_ask(l.udp_addr(), "many.example.", RecordType::A).await;
    assert!(answer.truncated());
    assert!(answer.answers().is_empty());
    assert_eq!(answer.response_code(), ResponseCode::NoError);
    // The oversized datagram made the server ask again over TCP.
    assert_eq!(up.queries(), (1, 1));
    let mut stream = TcpStream::connect(l.tcp_addr()).await.unwrap();
    let answer = tcp_exchange(&mut stream, &question("many.example.", RecordType::A)).await;
    assert!(!answer.truncated());
    assert_eq!(ips(&answer).len(), 100);
    assert_eq!(up.queries(), (1, 2));
}

#[tokio::test]
async fn malformed_packets_are_dropped_and_the_server_goes_on() {
    let l = start(Vec::new());
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [
        &b""[..],
        b"\x12",
        b"\x00\x01garbage-garbage-garbage",
        &[0xff; 600],
    ] {
        socket.send_to(junk, l.udp_addr()).await.unwrap();
    }
    // A response sent to the server is not answered either.
    let mut response = question("web.", RecordType::A);
    response.set_message_type(MessageType::Response);
    socket
        .send_to(&response.to_vec().unwrap(), l.udp_addr())
        .await
        .unwrap();
    let mut buf = [0; 512];
    let quiet = tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "the server answered junk");
    let answer = udp_ask(l.udp_addr(), "web.", RecordType::A).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);

    // Over TCP, junk closes the connection; the next connection is served.
    let mut stream = TcpStream::connect(l.tcp_addr()).await.unwrap();
    stream.write_all(&frame(b"junk").unwrap()).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
    let mut stream = TcpStream::connect(l.tcp_addr()).await.unwrap();
    let answer = tcp_exchange(&mut stream, &question("web.", RecordType::A)).await;
    assert_eq!(ips(&answer), vec![IpAddr::V4(WEB4)]);
}

#[tokio::test]
async fn forwards_in_flight_are_bounded() {
    let silent = upstream(Mode::Silent).await;
    let config = Config {
        upstream_timeout: Duration::from_secs(2),
        max_forwards: 1,
        ..Config::default()
    };
    let (_server, l) = start_as(FakeNames::new(vec![silent.addr]), config, ASKER);
    let first = question("one.example.", RecordType::A);
    let server = l.udp_addr();
    let pending = tokio::spawn(async move { udp_exchange(server, &first).await });
    // Let the first forward take the only permit.
    while silent.udp_queries.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let began = Instant::now();
    let answer = udp_ask(l.udp_addr(), "two.example.", RecordType::A).await;
    assert_eq!(answer.response_code(), ResponseCode::ServFail);
    assert!(began.elapsed() < Duration::from_secs(1));
    assert_eq!(silent.queries(), (1, 0));
    pending.abort();
}

#[tokio::test]
async fn shutdown_closes_the_sockets() {
    let l = start(Vec::new());
    let (udp, tcp) = (l.udp_addr(), l.tcp_addr());
    l.shutdown().await;
    assert!(std::net::TcpStream::connect(tcp).is_err());
    std::net::UdpSocket::bind(udp).unwrap();
    std::net::TcpListener::bind(tcp).unwrap();
}

#[test]
fn serve_outside_a_runtime_is_an_error() {
    let server = DnsServer::new(Arc::new(FakeNames::new(Vec::new())));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(matches!(
        server.serve(udp, tcp, ASKER),
        Err(crate::DnsError::NoRuntime)
    ));
}

#[test]
fn resolv_conf_nameservers() {
    let text = "\
# Generated by NetworkManager
search example.com
nameserver 192.0.2.53   # a comment
nameserver\t2001:db8::1
;nameserver 192.0.2.99
options ndots:2 edns0
nameserver not-an-address
nameserver
nameserver fe80::1%1
nameserver fe80::2%lo
nameserver fe80::3%no-such-interface-here
nameserver 192.0.2.53
  nameserver 127.0.0.53
";
    let got = upstreams_from_resolv_conf(text);
    let v6 = |s: &str, scope| {
        SocketAddr::V6(std::net::SocketAddrV6::new(
            s.parse().unwrap(),
            53,
            0,
            scope,
        ))
    };
    let lo = nix::net::if_::if_nametoindex("lo").unwrap();
    assert_eq!(
        got,
        vec![
            "192.0.2.53:53".parse().unwrap(),
            "[2001:db8::1]:53".parse().unwrap(),
            v6("fe80::1", 1),
            v6("fe80::2", lo),
            "127.0.0.53:53".parse().unwrap(),
        ]
    );
    assert!(upstreams_from_resolv_conf("").is_empty());
}

mod netns {
    //! `serve_in` in a namespace the test makes with `ip netns add` (root only).

    use std::net::{SocketAddr, TcpStream, UdpSocket};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;

    const RESOLVER: &str = "127.0.0.11:53";

    /// A named netns, deleted on drop (also when the test fails).
    struct TempNetns {
        name: String,
    }

    impl TempNetns {
        fn new() -> Result<Self, String> {
            let name = format!("berth-dnstest-{:08x}", rand::random::<u32>());
            let ok = |args: &[&str]| {
                Command::new("ip")
                    .args(args)
                    .status()
                    .map_err(|e| format!("ip: {e}"))
                    .and_then(|s| s.success().then_some(()).ok_or(format!("ip {args:?}: {s}")))
            };
            ok(&["netns", "add", &name])?;
            let ns = Self { name };
            ok(&["-n", &ns.name, "link", "set", "lo", "up"])?;
            Ok(ns)
        }

        fn path(&self) -> PathBuf {
            PathBuf::from("/run/netns").join(&self.name)
        }
    }

    impl Drop for TempNetns {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    /// Runs `f` on a thread of its own inside the namespace at `path`.
    fn in_netns<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = std::fs::File::open(path).unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }

    fn udp_ask_blocking(query: &Message) -> Message {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.send_to(&query.to_vec().unwrap(), RESOLVER).unwrap();
        let mut buf = [0; 4096];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from, RESOLVER.parse::<SocketAddr>().unwrap());
        Message::from_vec(&buf[..n]).unwrap()
    }

    fn tcp_ask_blocking(query: &Message) -> Message {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(RESOLVER).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(&frame(&query.to_vec().unwrap()).unwrap())
            .unwrap();
        let mut len = [0; 2];
        stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).unwrap();
        Message::from_vec(&buf).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_in_a_network_namespace() {
        if !nix::unistd::geteuid().is_root() {
            println!("SKIPPED: serve_in_a_network_namespace needs root (netns, setns)");
            return;
        }
        let ns = match TempNetns::new() {
            Ok(ns) => ns,
            Err(e) => {
                println!("SKIPPED: serve_in_a_network_namespace: cannot make a netns: {e}");
                return;
            }
        };
        // The upstream listens on the host's loopback: only a forward made from the
        // daemon's namespace reaches it.
        let up = upstream(Mode::Answer).await;
        let server = DnsServer::with_config(Arc::new(FakeNames::new(vec![up.addr])), test_config());
        let listener = server.serve_in(&ns.path(), ASKER).await.unwrap();
        assert_eq!(listener.udp_addr(), RESOLVER.parse().unwrap());

        let (local, forwarded, over_tcp) = tokio::task::spawn_blocking({
            let path = ns.path();
            move || {
                in_netns(&path, || {
                    (
                        udp_ask_blocking(&question("web.", RecordType::A)),
                        udp_ask_blocking(&question("example.com.", RecordType::A)),
                        tcp_ask_blocking(&question("web.", RecordType::AAAA)),
                    )
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(ips(&local), vec![IpAddr::V4(WEB4)]);
        assert_eq!(ips(&forwarded), vec![IpAddr::V4(UPSTREAM_IP)]);
        assert_eq!(ips(&over_tcp), vec![IpAddr::V6(WEB6)]);
        assert_eq!(up.queries(), (1, 0));

        drop(listener);
        let closed = tokio::task::spawn_blocking({
            let path = ns.path();
            move || {
                in_netns(&path, || {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    loop {
                        let refused = TcpStream::connect(RESOLVER).is_err();
                        if refused && UdpSocket::bind(RESOLVER).is_ok() {
                            return true;
                        }
                        if Instant::now() > deadline {
                            return false;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
            }
        })
        .await
        .unwrap();
        assert!(
            closed,
            "127.0.0.11:53 still open after the listener was dropped"
        );
    }
}
