//! Open connections and what keeps them from holding the box: caps per
//! client and in total, the idle watchdog, and the stall limit on request
//! bodies.
//!
//! - [`Connections::admit`] refuses a client's connection beyond
//!   `limits.connections_per_client` (clients counted by
//!   [`crate::common::net::source_group`]; trusted proxies are not capped). At the total
//!   cap it closes the connection that has been quiet longest with no request
//!   running, so a crowd of idle or half-open connections cannot lock
//!   everyone else out; when every connection is busy the new one is refused.
//! - [`Tracked`] wraps the socket and notes every byte moved. [`watchdog`]
//!   ends a connection with no request running and no bytes moving for
//!   `limits.idle_timeout` (silent sockets, keep-alives left open, clients
//!   that stopped reading a response). Slow headers are hyper's header-read
//!   timeout's job.
//! - [`StallLimited`] fails a request body that stops arriving for
//!   `limits.idle_timeout`, so a trickled upload cannot keep its request
//!   (and the app instance behind it) alive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::common::net::source_group;

/// Every open connection, for the caps.
pub struct Connections {
    registry: Mutex<Registry>,
    per_client: u32,
    total: u32,
    trusted: Vec<ipnet::IpNet>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Entry>,
    per_source: HashMap<IpAddr, u32>,
}

struct Entry {
    /// `None` for a trusted proxy, which is not counted per client.
    source: Option<IpAddr>,
    activity: Arc<Activity>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This client already has `limits.connections_per_client` open.
    PerClient,
    /// `limits.connections` are open and every one is busy.
    Full,
}

impl Connections {
    pub fn new(per_client: u32, total: u32, trusted: Vec<ipnet::IpNet>) -> Arc<Connections> {
        Arc::new(Connections { registry: Mutex::new(Registry::default()), per_client, total, trusted })
    }

    /// Admits a new connection from `peer`, or says why not. The returned
    /// slot frees its place when dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let source = (!self.trusted.iter().any(|net| net.contains(&peer))).then(|| source_group(peer));
        let mut registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(source) = source
            && registry.per_source.get(&source).copied().unwrap_or(0) >= self.per_client
        {
            return Err(Refused::PerClient);
        }
        if registry.open.len() >= self.total as usize {
            let victim = registry
                .open
                .iter()
                .filter(|(_, e)| e.activity.in_flight() == 0)
                .min_by_key(|(_, e)| e.activity.last.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            let Some(victim) = victim else { return Err(Refused::Full) };
            if let Some(entry) = registry.remove(victim) {
                entry.activity.close.notify_one();
            }
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let activity = Arc::new(Activity::new());
        if let Some(source) = source {
            *registry.per_source.entry(source).or_insert(0) += 1;
        }
        registry.open.insert(id, Entry { source, activity: activity.clone() });
        crate::metrics::connection_opened();
        Ok(Slot { connections: self.clone(), id, activity })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner).open.len()
    }
}

impl Registry {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(source) = entry.source
            && let Some(n) = self.per_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
        Some(entry)
    }
}

/// One admitted connection's place; freed on drop.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut registry = self.connections.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.remove(self.id);
        crate::metrics::connection_closed();
    }
}

/// What a connection is doing: when bytes last moved, how many requests are
/// running, and a signal to close it.
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started` that bytes last moved.
    last: AtomicU64,
    in_flight: AtomicU32,
    close: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            started: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            close: Notify::new(),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a request as running until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A running request on a connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Completes when the connection should be closed: it was quiet for `idle`
/// with no request running, or the cap chose it to make room.
pub async fn watchdog(activity: Arc<Activity>, idle: Duration) {
    loop {
        let quiet = activity.quiet_for();
        let wait = if activity.in_flight() > 0 {
            idle
        } else if quiet >= idle {
            return;
        } else {
            idle - quiet
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = activity.close.notified() => return,
        }
    }
}

/// A socket that notes in its [`Activity`] whenever bytes move.
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Tracked<T> {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that fails with [`Stalled`] once no data has arrived for
/// `idle`.
pub struct StallLimited<B> {
    inner: B,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> StallLimited<B> {
    pub fn new(inner: B, idle: Duration) -> StallLimited<B> {
        StallLimited { inner, idle, timer: None }
    }
}

/// The error a stalled request body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving for {0:?}, so porch gave up on it; send it again")]
pub struct Stalled(pub Duration);

impl<B> Body for StallLimited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(timer) = &mut this.timer {
                    timer.as_mut().reset(tokio::time::Instant::now() + this.idle);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled(idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn per_client_cap_counts_a_v6_64_as_one_client() {
        let c = Connections::new(2, 100, Vec::new());
        let _a = c.admit(ip("2001:db8::1")).expect("first");
        let _b = c.admit(ip("2001:db8::2")).expect("second");
        assert_eq!(c.admit(ip("2001:db8::3")).err(), Some(Refused::PerClient));
        assert!(c.admit(ip("2001:db8:0:1::1")).is_ok(), "another /64 is another client");
        drop(_a);
        assert!(c.admit(ip("2001:db8::3")).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn trusted_proxies_are_not_capped_per_client() {
        let c = Connections::new(1, 100, vec!["10.0.0.0/8".parse().expect("net")]);
        let _a = c.admit(ip("10.0.0.1")).expect("first");
        assert!(c.admit(ip("10.0.0.1")).is_ok());
    }

    #[tokio::test]
    async fn at_the_total_cap_the_quietest_idle_connection_makes_room() {
        let c = Connections::new(100, 16, Vec::new());
        let mut slots: Vec<Slot> = (0..16).map(|i| c.admit(ip(&format!("192.0.2.{i}"))).expect("admit")).collect();
        // Every connection is busy except the first, which is the quietest.
        let _busy: Vec<InFlight> = slots[1..].iter().map(|s| s.activity.request()).collect();
        let quiet = slots[0].activity.clone();
        let extra = c.admit(ip("198.51.100.1")).expect("room is made");
        tokio::time::timeout(Duration::from_secs(1), watchdog(quiet, Duration::from_secs(3600)))
            .await
            .expect("the quiet connection was told to close");
        assert_eq!(c.open(), 16);
        // Now all are busy: a newcomer is refused rather than evicting work.
        let _busy_extra = extra.activity.request();
        slots.push(extra);
        assert_eq!(c.admit(ip("198.51.100.2")).err(), Some(Refused::Full));
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_waits_for_running_requests() {
        let c = Connections::new(10, 100, Vec::new());
        let slot = c.admit(ip("192.0.2.1")).expect("admit");
        let running = slot.activity.request();
        let idle = Duration::from_secs(60);
        let dog = tokio::spawn(watchdog(slot.activity.clone(), idle));
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!dog.is_finished(), "a running request keeps its connection");
        drop(running);
        tokio::time::sleep(idle + Duration::from_secs(1)).await;
        assert!(dog.is_finished(), "an idle connection is closed after idle_timeout");
    }
}
