//! Blocking netlink requests on a plain socket, for the few operations that must not
//! run on the shared async connection: link deletion (the kernel spends 15-35 ms in
//! it) and setup inside a namespace from the thread that created it.

use std::path::PathBuf;

use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::Socket;

use crate::error::NetworkError;

/// Sends one request and waits for its acknowledgement. A kernel error comes back
/// as [`NetworkError::Netlink`] (see `error::nl_errno`).
pub(crate) fn request(
    sock: &Socket,
    message: RouteNetlinkMessage,
    context: &str,
) -> Result<(), NetworkError> {
    let io_err = |e: std::io::Error| NetworkError::io("netlink request", PathBuf::from(context), e);
    let mut msg = NetlinkMessage::from(message);
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.header.sequence_number = 1;
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    // Unconnected netlink sockets send to the kernel.
    sock.send(&buf, 0).map_err(io_err)?;
    loop {
        let mut rbuf: Vec<u8> = Vec::with_capacity(8192);
        sock.recv(&mut rbuf, 0).map_err(io_err)?;
        let mut off = 0;
        while off < rbuf.len() {
            let reply =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[off..]).map_err(|e| {
                    NetworkError::NetlinkDecode {
                        context: context.to_owned(),
                        reason: e.to_string(),
                    }
                })?;
            let len = reply.header.length as usize;
            if let NetlinkPayload::Error(e) = reply.payload {
                return match e.code {
                    None => Ok(()),
                    Some(_) => Err(NetworkError::netlink(
                        context,
                        rtnetlink::Error::NetlinkError(e),
                    )),
                };
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}
