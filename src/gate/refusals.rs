//! Coalescing the audit rows of anonymous refusals (review finding H1).
//!
//! A stranger can be refused as often as the request budget lets them, and
//! an audit row per refusal would let one client grow the database at the
//! rate it sends. Per client (IPv4 address or IPv6 /64) and per window of
//! [`REFUSAL_WINDOW`], the first [`REFUSALS_RECORDED_PER_WINDOW`] refusals are audited one by
//! one; the rest are only counted, and the count is written as one summary
//! row when that client is next refused after its window (or by
//! [`Refusals::drain`], which the hourly sweep calls). Memory is bounded by
//! [`REFUSALS_TRACKED`] clients.

use crate::common::limits::{REFUSAL_WINDOW, REFUSALS_RECORDED_PER_WINDOW, REFUSALS_TRACKED};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    seen: u32,
}

/// What to audit for one refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Audit this refusal in full.
    pub record: bool,
    /// Refusals from this client that were counted but not audited, to be
    /// written as one summary row now.
    pub untold: u32,
}

#[derive(Default)]
pub struct Refusals {
    clients: Mutex<HashMap<IpAddr, Window>>,
}

impl Refusals {
    /// Notes one refusal of `client` (already grouped).
    pub fn note(&self, client: IpAddr) -> Verdict {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut untold = 0;
        if let Some(w) = clients.get_mut(&client) {
            if now.duration_since(w.started) < REFUSAL_WINDOW {
                w.seen = w.seen.saturating_add(1);
                return Verdict { record: w.seen <= REFUSALS_RECORDED_PER_WINDOW, untold: 0 };
            }
            untold = w.seen.saturating_sub(REFUSALS_RECORDED_PER_WINDOW);
            *w = Window { started: now, seen: 1 };
            return Verdict { record: true, untold };
        }
        if clients.len() >= REFUSALS_TRACKED {
            clients.retain(|_, w| now.duration_since(w.started) < REFUSAL_WINDOW);
        }
        if clients.len() >= REFUSALS_TRACKED {
            // Still full during a spread attack: the oldest window goes, and
            // with it that client's count (one summary row for it is lost,
            // never an unbounded table).
            if let Some(oldest) = clients.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| *k)
                && let Some(w) = clients.remove(&oldest)
            {
                untold = w.seen.saturating_sub(REFUSALS_RECORDED_PER_WINDOW);
            }
        }
        clients.insert(client, Window { started: now, seen: 1 });
        Verdict { record: true, untold }
    }

    /// Ends every window that is over; returns each client's count of
    /// refusals not yet audited (for the sweep to write as summaries).
    pub fn drain(&self) -> Vec<(IpAddr, u32)> {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        clients.retain(|ip, w| {
            let open = now.duration_since(w.started) < REFUSAL_WINDOW;
            if !open && w.seen > REFUSALS_RECORDED_PER_WINDOW {
                out.push((*ip, w.seen - REFUSALS_RECORDED_PER_WINDOW));
            }
            open
        });
        out
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[tokio::test(start_paused = true)]
    async fn h1_a_client_gets_a_few_rows_per_window_then_one_summary() {
        let r = Refusals::default();
        let recorded = (0..50).filter(|_| r.note(ip(1)).record).count();
        assert_eq!(recorded, REFUSALS_RECORDED_PER_WINDOW as usize);
        assert!(r.note(ip(2)).record, "other clients have their own window");
        assert!(r.drain().is_empty(), "windows still open");
        tokio::time::advance(REFUSAL_WINDOW).await;
        assert_eq!(r.note(ip(1)), Verdict { record: true, untold: 50 - REFUSALS_RECORDED_PER_WINDOW });
        tokio::time::advance(REFUSAL_WINDOW).await;
        for _ in 0..7 {
            r.note(ip(3));
        }
        tokio::time::advance(REFUSAL_WINDOW).await;
        assert_eq!(r.drain(), vec![(ip(3), 7 - REFUSALS_RECORDED_PER_WINDOW)]);
        assert_eq!(r.len(), 0, "drained windows are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn h1_memory_stays_bounded_under_a_spread_attack() {
        let r = Refusals::default();
        for n in 0..(REFUSALS_TRACKED as u32 + 100) {
            r.note(ip(n));
        }
        assert!(r.len() <= REFUSALS_TRACKED);
    }
}
