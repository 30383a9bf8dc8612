//! Sign-in throttling, keyed by client and by account.
//!
//! - A **client** (IPv4 address or IPv6 /64) gets `signin.free_failures`
//!   free failures (wrong passwords, dead invite links); after that each try
//!   must wait 1 s, 2 s, 4 s... (at most `signin.max_wait`) after the last
//!   failure, and at `signin.block_after` failures it is blocked for
//!   `signin.block_for`.
//! - An **account** (the name typed, known or not, so the answer says
//!   nothing about who exists) gets `signin.account_free_failures` before
//!   each further try must wait the same way. It is never blocked, and a
//!   *known device* (one that signed in to that account before and carries
//!   its device cookie) never waits at all: strangers guessing from many
//!   addresses slow themselves down, not the family.
//!
//! A try is counted when it **starts** ([`Throttle::begin`] reserves it
//! under the same lock that checks it), not when its password check ends:
//! N guesses sent at the same moment cost what N guesses one after another
//! cost (review finding M3). A reserved try that turns out right gives its
//! reservation back and clears only the failures *this client* had at *that
//! account*: signing in to your own account does not wash away guesses your
//! network made at someone else's.
//!
//! Failures are forgotten `signin.forget_after` after the last one. State is
//! in memory, bounded in size; blocks and slow-downs are audited by the
//! caller when they start, and owners see and lift them on the Blocks page.

use crate::common::limits::{THROTTLE_ACCOUNTS_PER_CLIENT, THROTTLE_TRACKED};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::SigninLimits;

#[derive(Debug, Clone, Default)]
struct Record {
    failures: u32,
    /// Tries started and not yet finished: they count as failures until
    /// they end.
    pending: u32,
    last: Option<Instant>,
    blocked_until: Option<Instant>,
    /// For a client: its failures at each account it tried (bounded).
    by_account: Vec<(String, u32)>,
}

impl Record {
    /// Forgets the failures this client had at `account`.
    fn clear_account(&mut self, account: &str) {
        if let Some(i) = self.by_account.iter().position(|(a, _)| a == account) {
            let (_, n) = self.by_account.swap_remove(i);
            self.failures = self.failures.saturating_sub(n);
        }
    }

    /// Blocked now, a try under way, or failed within `forget_after`: not
    /// yet forgotten.
    fn live(&self, now: Instant, forget_after: Duration) -> bool {
        self.pending > 0
            || self.blocked_until.is_some_and(|u| u > now)
            || self.last.is_some_and(|l| now.duration_since(l) < forget_after)
    }
}

/// Why a try must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ClientSlowed,
    ClientBlocked,
    AccountSlowed,
}

/// A refused try: how long to wait and why.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub wait: Duration,
    pub reason: Reason,
}

impl Wait {
    pub fn message(&self) -> &'static str {
        match self.reason {
            Reason::ClientBlocked => {
                "There were too many failed sign-ins from your network, so porch stopped accepting them for a while. If this is you, ask the person who runs this porch to lift the block."
            }
            Reason::ClientSlowed => {
                "There were several failed sign-ins from your network, so each new try has to wait a little. Check the name and password carefully."
            }
            Reason::AccountSlowed => {
                "There were many failed sign-ins to this account, so tries from new devices have to wait a little. A device that signed in to it before does not wait."
            }
        }
    }
}

/// Something the owner should hear about (the caller audits it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ClientBlocked { client: IpAddr, failures: u32, minutes: u64 },
    AccountSlowed { account: String, failures: u32 },
}

/// One row of the Blocks page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// `client` or `account`.
    pub kind: &'static str,
    pub key: String,
    pub failures: u32,
    /// Seconds until the next try is allowed.
    pub wait_secs: u64,
    pub blocked: bool,
}

pub struct Throttle {
    limits: SigninLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    clients: HashMap<IpAddr, Record>,
    accounts: HashMap<String, Record>,
}

/// A try under way, counted since [`Throttle::begin`]. End it with
/// [`Attempt::failed`] or [`Attempt::succeeded`]; dropped without either
/// (the invite link was fine, or the handler failed) it just gives its
/// reservation back.
#[must_use = "a try stays counted as a failure until it ends"]
pub struct Attempt<'t> {
    throttle: &'t Throttle,
    client: IpAddr,
    account: Option<String>,
    reserved: bool,
}

impl Attempt<'_> {
    /// The try failed (wrong password, dead invite link): it stays counted.
    pub fn failed(mut self) -> Vec<Event> {
        let events = if self.reserved {
            self.throttle.fail(self.client, self.account.as_deref())
        } else {
            // A known device's failures still count (it could be lost).
            let mut state = self.throttle.state();
            let State { clients, accounts } = &mut *state;
            self.throttle.reserve(clients, self.client, Instant::now());
            if let Some(a) = &self.account {
                self.throttle.reserve(accounts, a.clone(), Instant::now());
            }
            drop(state);
            self.throttle.fail(self.client, self.account.as_deref())
        };
        self.reserved = false;
        events
    }

    /// The try succeeded: its reservation goes, and so do the failures this
    /// client had at this account.
    pub fn succeeded(mut self) {
        if self.reserved {
            self.throttle.release(self.client, self.account.as_deref(), true);
            self.reserved = false;
        } else {
            self.throttle.clear_pair(self.client, self.account.as_deref());
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.reserved {
            self.throttle.release(self.client, self.account.as_deref(), false);
        }
    }
}

/// The account key for a typed name: trimmed, lower case, bounded.
pub fn account_key(name: &str) -> String {
    name.trim().chars().take(64).collect::<String>().to_lowercase()
}

impl Throttle {
    pub fn new(limits: SigninLimits) -> Throttle {
        Throttle { limits, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a try from `client` (already grouped) at `account`, if it may
    /// go ahead now, and counts it at once: until the returned [`Attempt`]
    /// ends it stands as a failure for every other try. A known device skips
    /// every check and reserves nothing.
    pub fn begin(&self, client: IpAddr, account: Option<&str>, known_device: bool) -> Result<Attempt<'_>, Wait> {
        let account = account.map(account_key);
        if known_device {
            return Ok(Attempt { throttle: self, client, account, reserved: false });
        }
        let now = Instant::now();
        let mut state = self.state();
        if let Some(r) = state.clients.get(&client) {
            if let Some(until) = r.blocked_until.filter(|u| *u > now) {
                return Err(Wait { wait: until - now, reason: Reason::ClientBlocked });
            }
            if let Some(wait) = self.wait(r, self.limits.free_failures, now) {
                return Err(Wait { wait, reason: Reason::ClientSlowed });
            }
        }
        if let Some(r) = account.as_ref().and_then(|a| state.accounts.get(a))
            && let Some(wait) = self.wait(r, self.limits.account_free_failures, now)
        {
            return Err(Wait { wait, reason: Reason::AccountSlowed });
        }
        let State { clients, accounts } = &mut *state;
        self.reserve(clients, client, now);
        if let Some(a) = &account {
            self.reserve(accounts, a.clone(), now);
        }
        Ok(Attempt { throttle: self, client, account, reserved: true })
    }

    /// Counts a try under way in `map[key]`.
    fn reserve<K: Clone + Eq + std::hash::Hash>(&self, map: &mut HashMap<K, Record>, key: K, now: Instant) {
        make_room(map, now, self.limits.forget_after);
        let r = map.entry(key).or_default();
        if !r.live(now, self.limits.forget_after) {
            *r = Record::default();
        }
        r.pending = r.pending.saturating_add(1);
    }

    /// How long a record must still wait, if at all. Tries under way count
    /// as failures, and while one is under way the wait starts now.
    fn wait(&self, r: &Record, free: u32, now: Instant) -> Option<Duration> {
        let r = self.live(r, now)?;
        let counted = r.failures.saturating_add(r.pending);
        if counted < free {
            return None;
        }
        let exponent = (counted - free).min(30);
        let wait = Duration::from_secs(1u64 << exponent).min(self.limits.max_wait);
        if r.pending > 0 {
            return Some(wait);
        }
        (r.last? + wait).checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// The record if it is not yet forgotten.
    fn live<'r>(&self, r: &'r Record, now: Instant) -> Option<&'r Record> {
        r.live(now, self.limits.forget_after).then_some(r)
    }

    /// Ends a reserved try as a failure; returns what the owner should hear
    /// about.
    fn fail(&self, client: IpAddr, account: Option<&str>) -> Vec<Event> {
        crate::metrics::signin_failed();
        let now = Instant::now();
        let mut events = Vec::new();
        let limits = &self.limits;
        let mut state = self.state();
        let State { clients, accounts } = &mut *state;
        let r = clients.entry(client).or_default();
        r.pending = r.pending.saturating_sub(1);
        r.failures = r.failures.saturating_add(1);
        r.last = Some(now);
        if let Some(account) = account {
            match r.by_account.iter().position(|(a, _)| a == account) {
                Some(i) => r.by_account[i].1 = r.by_account[i].1.saturating_add(1),
                None if r.by_account.len() < THROTTLE_ACCOUNTS_PER_CLIENT => r.by_account.push((account.to_owned(), 1)),
                None => {}
            }
        }
        if r.failures == limits.block_after {
            r.blocked_until = Some(now + limits.block_for);
            let minutes = limits.block_for.as_secs().div_ceil(60);
            events.push(Event::ClientBlocked { client, failures: r.failures, minutes });
        }
        if let Some(account) = account {
            let r = accounts.entry(account.to_owned()).or_default();
            r.pending = r.pending.saturating_sub(1);
            r.failures = r.failures.saturating_add(1);
            r.last = Some(now);
            if r.failures == limits.account_free_failures {
                events.push(Event::AccountSlowed { account: account.to_owned(), failures: r.failures });
            }
        }
        events
    }

    /// Gives a reserved try back; `succeeded` also clears the failures this
    /// client had at this account (the account's own count stays: guesses
    /// from elsewhere are still guesses).
    fn release(&self, client: IpAddr, account: Option<&str>, succeeded: bool) {
        let mut state = self.state();
        let State { clients, accounts } = &mut *state;
        if let Some(r) = clients.get_mut(&client) {
            r.pending = r.pending.saturating_sub(1);
            if succeeded && let Some(account) = account {
                r.clear_account(account);
            }
        }
        if let Some(r) = account.and_then(|a| accounts.get_mut(a)) {
            r.pending = r.pending.saturating_sub(1);
        }
    }

    /// Everything slowed or blocked now, for the Blocks page.
    pub fn report(&self) -> Vec<Entry> {
        let now = Instant::now();
        let state = self.state();
        let mut out = Vec::new();
        for (ip, r) in &state.clients {
            let blocked = r.blocked_until.filter(|u| *u > now);
            let wait = blocked.map(|u| u - now).or_else(|| self.wait(r, self.limits.free_failures, now));
            if blocked.is_some() || (self.live(r, now).is_some() && r.failures >= self.limits.free_failures) {
                out.push(entry("client", ip.to_string(), r, wait, blocked.is_some()));
            }
        }
        for (name, r) in &state.accounts {
            if self.live(r, now).is_some() && r.failures >= self.limits.account_free_failures {
                let wait = self.wait(r, self.limits.account_free_failures, now);
                out.push(entry("account", name.clone(), r, wait, false));
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse((e.blocked, e.failures)));
        out
    }

    /// Clears the failures `client` had at `account` (a success from a
    /// known device).
    fn clear_pair(&self, client: IpAddr, account: Option<&str>) {
        let Some(account) = account else { return };
        if let Some(r) = self.state().clients.get_mut(&client) {
            r.clear_account(account);
        }
    }

    /// Lifts a client's block or an account's slow-down; whether there was one.
    pub fn lift(&self, kind: &str, key: &str) -> bool {
        let mut state = self.state();
        match kind {
            "client" => key.parse::<IpAddr>().ok().and_then(|ip| state.clients.remove(&ip)).is_some(),
            "account" => state.accounts.remove(&account_key(key)).is_some(),
            _ => false,
        }
    }
}

fn entry(kind: &'static str, key: String, r: &Record, wait: Option<Duration>, blocked: bool) -> Entry {
    let wait_secs = wait.map_or(0, |w| w.as_secs() + u64::from(w.subsec_nanos() > 0));
    Entry { kind, key, failures: r.failures, wait_secs, blocked }
}

/// Keeps a map under [`THROTTLE_TRACKED`]: first drop forgotten records, then,
/// if an attack still fills it, those with the fewest failures.
fn make_room<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Record>, now: Instant, forget_after: Duration) {
    if map.len() < THROTTLE_TRACKED {
        return;
    }
    map.retain(|_, r| r.live(now, forget_after));
    while map.len() >= THROTTLE_TRACKED {
        let Some(key) = map.iter().min_by_key(|(_, r)| r.failures).map(|(k, _)| k.clone()) else { break };
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SigninLimits {
        SigninLimits {
            free_failures: 3,
            block_after: 6,
            block_for: Duration::from_secs(900),
            account_free_failures: 4,
            max_wait: Duration::from_secs(60),
            forget_after: Duration::from_secs(900),
            device_forget: Duration::from_secs(180 * 86400),
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    /// One whole failed try.
    fn fail(t: &Throttle, client: IpAddr, account: Option<&str>) -> Vec<Event> {
        t.begin(client, account, false).expect("may try").failed()
    }

    fn check(t: &Throttle, client: IpAddr, account: Option<&str>, known: bool) -> Result<(), Wait> {
        t.begin(client, account, known).map(drop)
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_is_slowed_then_blocked_then_forgiven() {
        let t = Throttle::new(limits());
        for _ in 0..3 {
            assert!(check(&t, ip(1), Some("grandma"), false).is_ok());
            assert!(fail(&t, ip(1), Some("mallory")).is_empty());
        }
        let w = check(&t, ip(1), None, false).expect_err("slowed after the free failures");
        assert_eq!((w.reason, w.wait), (Reason::ClientSlowed, Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(fail(&t, ip(1), None).is_empty(), "the wait is over");
        assert_eq!(check(&t, ip(1), None, false).map_err(|w| w.wait), Err(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(2)).await;
        fail(&t, ip(1), None);
        tokio::time::advance(Duration::from_secs(4)).await;
        let events = fail(&t, ip(1), None);
        assert_eq!(events, vec![Event::ClientBlocked { client: ip(1), failures: 6, minutes: 15 }]);
        let w = check(&t, ip(1), None, false).expect_err("blocked");
        assert_eq!(w.reason, Reason::ClientBlocked);
        assert!(check(&t, ip(2), None, false).is_ok(), "other clients are not affected");
        assert!(check(&t, ip(1), None, true).is_ok(), "a known device is never held back");
        assert!(t.report().iter().any(|e| e.blocked && e.key == "192.0.2.1"));
        assert!(t.lift("client", "192.0.2.1"));
        assert!(check(&t, ip(1), None, false).is_ok(), "the owner lifted the block");
    }

    #[tokio::test(start_paused = true)]
    async fn guesses_spread_over_many_clients_slow_the_account_not_the_family() {
        let t = Throttle::new(limits());
        let mut events = Vec::new();
        for n in 10..14 {
            events.extend(fail(&t, ip(n), Some(" Grandma ")));
        }
        assert_eq!(events, vec![Event::AccountSlowed { account: "grandma".into(), failures: 4 }]);
        let w = check(&t, ip(50), Some("GRANDMA"), false).expect_err("a new client waits for this account");
        assert_eq!(w.reason, Reason::AccountSlowed);
        assert!(check(&t, ip(50), Some("grandpa"), false).is_ok(), "other accounts are not slowed");
        assert!(check(&t, ip(50), Some("grandma"), true).is_ok(), "grandma's own phone signs in");
        tokio::time::advance(Duration::from_secs(901)).await;
        assert!(check(&t, ip(50), Some("grandma"), false).is_ok(), "failures are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn m3_tries_under_way_count_at_once() {
        let t = Throttle::new(limits());
        // The account's free failures are used up from elsewhere.
        for n in 10..14 {
            tokio::time::advance(Duration::from_secs(60)).await;
            fail(&t, ip(n), Some("grandma"));
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        // The wait is over: thirty guesses arrive at the same moment from
        // thirty clients. One may start; the others wait for it.
        let started: Vec<Attempt<'_>> =
            (100..130).filter_map(|n| t.begin(ip(n), Some("grandma"), false).ok()).collect();
        assert_eq!(started.len(), 1);
        // Per client, too: free failures are reserved as tries start.
        let mine: Vec<Attempt<'_>> = (0..10).filter_map(|_| t.begin(ip(1), Some("x"), false).ok()).collect();
        assert_eq!(mine.len(), 3, "signin.free_failures tries at once, not ten");
        drop(mine);
        let again: Vec<Attempt<'_>> = (0..10).filter_map(|_| t.begin(ip(1), Some("x"), false).ok()).collect();
        assert_eq!(again.len(), 3, "tries that ended without failing give their place back");
    }

    #[tokio::test(start_paused = true)]
    async fn m3_success_clears_only_that_accounts_failures_for_that_client() {
        let t = Throttle::new(limits());
        fail(&t, ip(1), Some("grandma"));
        fail(&t, ip(1), Some("grandma"));
        fail(&t, ip(1), Some("mallory"));
        // A relative signs in to their own account between guesses...
        tokio::time::advance(Duration::from_secs(1)).await;
        t.begin(ip(1), Some("mallory"), false).expect("may try").succeeded();
        // ...which clears their own typo, not the guesses at grandma.
        let r = t.state().clients.get(&ip(1)).cloned().expect("still tracked");
        assert_eq!(r.failures, 2);
        fail(&t, ip(1), Some("grandma"));
        assert!(check(&t, ip(1), None, false).is_err(), "three failures stand: slowed");
    }

    #[test]
    fn memory_stays_bounded_under_a_spread_attack() {
        let t = Throttle::new(limits());
        for n in 0..(THROTTLE_TRACKED as u32 + 10) {
            fail(&t, IpAddr::from(n.to_be_bytes()), Some(&format!("name{n}")));
        }
        let state = t.state();
        assert!(state.clients.len() <= THROTTLE_TRACKED && state.accounts.len() <= THROTTLE_TRACKED);
    }
}
