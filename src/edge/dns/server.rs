//! The DNS listener: hickory-server on UDP and TCP, answering from
//! [`Zone`]. Over UDP, where a source address can be forged, each source
//! (IPv6: each /64) gets at most `dns.udp_rate` answers per second; beyond
//! that most questions are dropped and every other one gets an empty
//! truncated reply, so a real resolver retries over TCP while a forged
//! flood gains no amplification. TCP is not limited this way.

use crate::common::limits::{DNS_SOURCES_TRACKED, DNS_TCP_IDLE};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hickory_proto::op::{Edns, Header, MessageType, OpCode, ResponseCode};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::zone::Zone;
use crate::common::net::source_group;

/// The table's size is looked at every this many UDP questions.
const SIZE_CHECK_EVERY: u64 = 1024;

/// Answers questions for one zone.
pub struct Handler {
    zone: Arc<Zone>,
    udp_limit: DefaultKeyedRateLimiter<IpAddr>,
    dropped: AtomicU64,
    asked: AtomicU64,
}

impl Handler {
    pub fn new(zone: Arc<Zone>, udp_rate: u32) -> Handler {
        let rate = NonZeroU32::new(udp_rate).unwrap_or(NonZeroU32::MIN);
        Handler {
            zone,
            udp_limit: RateLimiter::keyed(Quota::per_second(rate)),
            dropped: AtomicU64::new(0),
            asked: AtomicU64::new(0),
        }
    }

    /// Whether a UDP question from `src` is within its source's rate; keeps
    /// the table of sources near [`DNS_SOURCES_TRACKED`].
    fn admit(&self, src: IpAddr) -> bool {
        if self.asked.fetch_add(1, Ordering::Relaxed).is_multiple_of(SIZE_CHECK_EVERY)
            && self.udp_limit.len() > DNS_SOURCES_TRACKED
        {
            self.forget_quiet_sources();
        }
        self.udp_limit.check_key(&source_group(src)).is_ok()
    }

    /// Forgets sources that have been quiet, so the table stays small.
    pub fn forget_quiet_sources(&self) {
        self.udp_limit.retain_recent();
        self.udp_limit.shrink_to_fit();
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let metadata = &request.metadata;
        let mut edns = None;
        if let Some(asked) = &request.edns {
            let mut ours = Edns::new();
            ours.set_max_payload(asked.max_payload().clamp(512, 1232));
            ours.set_version(0);
            edns = Some(ours);
        }
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let over_limit = request.protocol() == Protocol::Udp && !self.admit(request.src().ip());
        if over_limit {
            // Drop most; send every other one an empty, truncated reply (tiny)
            // so a real resolver falls back to TCP.
            if self.dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                let mut reply = builder.error_msg(metadata, ResponseCode::NoError);
                reply.metadata_mut().truncation = true;
                return send(&mut response, reply).await;
            }
            let mut dropped = hickory_proto::op::Metadata::response_from_request(metadata);
            dropped.response_code = ResponseCode::Refused;
            return ResponseInfo::from(Header { metadata: dropped, counts: Default::default() });
        }
        if metadata.message_type != MessageType::Query || metadata.op_code != OpCode::Query {
            return send(&mut response, builder.error_msg(metadata, ResponseCode::NotImp)).await;
        }
        let Ok(info) = request.request_info() else {
            return send(&mut response, builder.error_msg(metadata, ResponseCode::FormErr)).await;
        };
        let answer = self.zone.answer(info.query.original());
        let mut reply_meta = hickory_proto::op::Metadata::response_from_request(metadata);
        reply_meta.response_code = answer.code;
        reply_meta.authoritative = answer.authoritative;
        reply_meta.recursion_available = false;
        let reply = builder.build(
            reply_meta,
            answer.answers.iter(),
            answer.authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        send(&mut response, reply).await
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    reply: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
    >,
) -> ResponseInfo {
    let meta = *reply.metadata();
    match response.send_response(reply).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not send a DNS reply");
            ResponseInfo::from(Header { metadata: meta, counts: Default::default() })
        }
    }
}

/// Binds UDP and TCP on `addr` and serves `zone` until the task is dropped.
pub async fn serve(addr: SocketAddr, zone: Arc<Zone>, udp_rate: u32) -> Result<DnsServer, std::io::Error> {
    let udp = tokio::net::UdpSocket::bind(addr).await?;
    let bound = udp.local_addr()?;
    let tcp = tokio::net::TcpListener::bind(bound).await?;
    let handler = Arc::new(Handler::new(zone, udp_rate));
    let mut server = hickory_server::Server::new(SharedHandler(handler.clone()));
    server.register_socket(udp);
    server.register_listener(tcp, DNS_TCP_IDLE, 64);
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            handler.forget_quiet_sources();
        }
    });
    Ok(DnsServer { bound, server, sweeper })
}

/// The running DNS listener.
pub struct DnsServer {
    pub bound: SocketAddr,
    server: hickory_server::Server<SharedHandler>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    pub async fn stop(mut self) {
        self.sweeper.abort();
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::debug!(error = %e, "DNS listener stopped with an error");
        }
    }
}

struct SharedHandler(Arc<Handler>);

#[async_trait::async_trait]
impl RequestHandler for SharedHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, response: R) -> ResponseInfo {
        self.0.handle_request::<R, T>(request, response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l12_a_flood_of_forged_sources_keeps_the_table_bounded() {
        let zone = Arc::new(Zone::new("family.example", Vec::new(), None, 60).expect("zone"));
        let handler = Handler::new(zone, 1000);
        let mut peak = 0;
        for n in 0..300_000u32 {
            handler.admit(IpAddr::from((0x0b00_0000 + n).to_be_bytes()));
            peak = peak.max(handler.udp_limit.len());
        }
        assert!(peak <= DNS_SOURCES_TRACKED + SIZE_CHECK_EVERY as usize, "{peak} sources remembered");
    }
}
