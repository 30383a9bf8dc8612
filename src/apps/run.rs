//! Running one request through an app: a fresh instance from the
//! pre-instantiated component, memory capped by `StoreLimits`, a deadline
//! for the whole request (the guest yields to other work every epoch tick,
//! so a spinning app cannot starve the rest), the request body streamed in
//! under its limit, and the response body cut at its limit. A trap, a
//! timeout or an overrun ends that request with a clean 5xx and a log line.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::host::{AppScope, AppState};
use super::manifest::Manifest;
use crate::common::limits::{PROBATION_FAILURES, PROBATION_REQUESTS};

/// A compiled, checked app ready to serve.
pub struct LoadedApp {
    pub manifest: Arc<Manifest>,
    pub sha256: String,
    pre: ProxyPre<AppState>,
    scope: Arc<AppScope>,
    running: Arc<Semaphore>,
    per_person: Arc<PerPerson>,
    probation: Option<Probation>,
}

impl LoadedApp {
    /// What its capability calls reach (the background media worker works
    /// for the app through it).
    pub(super) fn scope(&self) -> Arc<AppScope> {
        self.scope.clone()
    }
}

/// An updated app's first requests in this process, watched: too many
/// failures among them and the update is taken back (by the registry, when
/// the gate asks [`LoadedApp::failed_probation`]).
struct Probation {
    seen: AtomicU32,
    failed: AtomicU32,
    tripped: AtomicBool,
}

impl Probation {
    /// Counts one answer; true exactly once, when the failures reach the
    /// limit within the watched requests.
    fn count(&self, failed: bool) -> bool {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed);
        if seen >= PROBATION_REQUESTS || !failed {
            return false;
        }
        let failures = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        failures >= PROBATION_FAILURES && !self.tripped.swap(true, Ordering::Relaxed)
    }
}

/// Why a request did not get the app's own answer.
#[derive(Debug)]
pub enum Failure {
    Busy,
    TooLarge(u64),
    Timeout,
    Trap(String),
    NoResponse,
    Internal(String),
}

impl Failure {
    /// The `outcome` label of the app-request metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Failure::Busy => "busy",
            Failure::TooLarge(_) => "too_large",
            Failure::Timeout => "timeout",
            Failure::Trap(_) | Failure::NoResponse => "trap",
            Failure::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Failure::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Failure::Trap(_) | Failure::NoResponse | Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the visitor is told.
    pub fn message(&self) -> String {
        match self {
            Failure::Busy => "This app is busy right now. Please try again in a moment.".into(),
            Failure::TooLarge(limit) => format!("What you sent is larger than this app accepts ({limit} bytes)."),
            Failure::Timeout => "This app took too long to answer, so porch stopped it.".into(),
            Failure::Trap(_) | Failure::NoResponse => {
                "This app failed while answering. porch stopped it; the rest of porch is fine.".into()
            }
            Failure::Internal(_) => "porch could not run this app right now.".into(),
        }
    }
}

impl LoadedApp {
    pub fn new(manifest: Arc<Manifest>, sha256: String, pre: ProxyPre<AppState>, scope: Arc<AppScope>) -> LoadedApp {
        let running = Arc::new(Semaphore::new(manifest.limits.concurrency as usize));
        let per_person = Arc::new(PerPerson::new(manifest.limits.concurrency_per_person));
        LoadedApp { manifest, sha256, pre, scope, running, per_person, probation: None }
    }

    /// Watches this version's first requests when `on_probation` (it is an
    /// update with an older version kept to go back to).
    pub fn watched(mut self, on_probation: bool) -> LoadedApp {
        self.probation = on_probation.then(|| Probation {
            seen: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            tripped: AtomicBool::new(false),
        });
        self
    }

    /// Runs one request for `person` and, while this version is on
    /// probation, counts whether the app failed it. Headers must already be
    /// what the app may see. The second value is true, once, when this
    /// version just failed too many of its first requests.
    pub async fn serve(
        &self,
        request: Request<Body>,
        https: bool,
        person: i64,
    ) -> (Result<Response<Body>, Failure>, bool) {
        let served = self.run(request, https, person).await;
        let failed_probation = match &self.probation {
            Some(watch) => match &served {
                Ok(_) => watch.count(false),
                Err(Failure::Trap(_) | Failure::NoResponse) => watch.count(true),
                Err(_) => false,
            },
            None => false,
        };
        (served, failed_probation)
    }

    async fn run(&self, request: Request<Body>, https: bool, person: i64) -> Result<Response<Body>, Failure> {
        let limits = self.manifest.limits.clone();
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limits.request_body) {
            return Err(Failure::TooLarge(limits.request_body));
        }
        // A burst queues for a slot (as long as the app may run), then is
        // turned away; the app's time starts once it runs.
        let queued = Instant::now() + limits.time;
        let mine = match tokio::time::timeout_at(queued, PerPerson::acquire(&self.per_person, person)).await {
            Ok(Some(mine)) => mine,
            _ => return Err(Failure::Busy),
        };
        let permit = match tokio::time::timeout_at(queued, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => (permit, mine),
            _ => return Err(Failure::Busy),
        };
        let deadline = Instant::now() + limits.time;

        let mut store =
            Store::new(self.pre.engine(), AppState::new(self.scope.clone(), (person != 0).then_some(person)));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_async_yield_and_update(1);

        let limit = limits.request_body;
        let (parts, body) = request.into_parts();
        let body = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).map_err(move |e| {
            if e.is::<http_body_util::LengthLimitError>() {
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit))
            } else {
                wasmtime_wasi_http::Error::InternalError(Some(e.to_string()))
            }
        });
        let request = hyper::Request::from_parts(parts, body);
        let scheme = if https { Scheme::Https } else { Scheme::Http };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let state = store.data_mut();
        let incoming =
            state.http().new_incoming_request(scheme, request).map_err(|e| Failure::Internal(e.to_string()))?;
        let outparam = state.http().new_response_outparam(sender).map_err(|e| Failure::Internal(e.to_string()))?;

        let pre = self.pre.clone();
        let app_id = self.manifest.id.clone();
        // The guest keeps running after it sends the response head, to
        // stream the body; the deadline covers that too.
        let task = tokio::spawn(async move {
            let _permit = permit;
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
            };
            match tokio::time::timeout_at(deadline, run).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(classify(&e)),
                Err(_) => Err(Failure::Timeout),
            }
        });

        let failure = match tokio::time::timeout_at(deadline, receiver).await {
            Ok(Ok(Ok(response))) => {
                let (parts, body) = response.into_parts();
                let body = CappedBody { inner: body, left: limits.response_body, app: app_id };
                return Ok(Response::from_parts(parts, Body::new(body)));
            }
            Ok(Ok(Err(code))) => Failure::Trap(format!("the app answered with an error code: {code:?}")),
            Ok(Err(_)) => match task.await {
                Ok(Err(failure)) => failure,
                Ok(Ok(())) => Failure::NoResponse,
                Err(e) => Failure::Internal(e.to_string()),
            },
            Err(_) => Failure::Timeout,
        };
        tracing::warn!(app = %self.manifest.id, failure = ?failure, "app request failed");
        Err(failure)
    }
}

/// Each person's share of an app's slots: a semaphore per person with a
/// request queued or running, dropped when their last one ends, so the map
/// holds only people with requests under way.
pub(super) struct PerPerson {
    cap: u32,
    people: std::sync::Mutex<std::collections::HashMap<i64, Arc<Semaphore>>>,
}

/// One request's place in its person's share; gives it back on drop.
pub(super) struct PersonSlot {
    owner: Arc<PerPerson>,
    person: i64,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl PerPerson {
    pub(super) fn new(cap: u32) -> PerPerson {
        PerPerson { cap: cap.max(1), people: std::sync::Mutex::default() }
    }

    fn people(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, Arc<Semaphore>>> {
        self.people.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for one of `person`'s places.
    pub(super) async fn acquire(this: &Arc<PerPerson>, person: i64) -> Option<PersonSlot> {
        let cap = this.cap as usize;
        let semaphore = this.people().entry(person).or_insert_with(|| Arc::new(Semaphore::new(cap))).clone();
        let mut slot = PersonSlot { owner: this.clone(), person, permit: None };
        slot.permit = Some(semaphore.acquire_owned().await.ok()?);
        Some(slot)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.people().len()
    }
}

impl Drop for PersonSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut people = self.owner.people();
        // Nobody else holds or waits for this person's semaphore: forget it.
        if people.get(&self.person).is_some_and(|s| Arc::strong_count(s) == 1) {
            people.remove(&self.person);
        }
    }
}

fn classify(e: &wasmtime::Error) -> Failure {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => Failure::Timeout,
            other => Failure::Trap(format!("trap: {other}")),
        };
    }
    Failure::Trap(format!("{e:#}"))
}

/// A response body that ends in an error once more than `left` bytes were
/// sent, so the connection is cut instead of streaming without end.
struct CappedBody<B> {
    inner: B,
    left: u64,
    app: String,
}

impl<B> http_body::Body for CappedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.left {
                        tracing::warn!(app = %this.app, "response body over the app's limit; cut");
                        this.left = 0;
                        return Poll::Ready(Some(Err(std::io::Error::other("response body over the app's limit"))));
                    }
                    this.left -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e.to_string())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Security headers for an app's response (`common::headers`): porch's
/// policy beside the app's own, the privacy headers replaced.
pub fn harden(headers: &mut axum::http::HeaderMap, manifest_csp: Option<&str>) {
    crate::common::headers::secure(headers, crate::common::headers::Answer::App { manifest_csp });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn l11_one_person_cannot_hold_every_slot_and_idle_people_are_forgotten() {
        let shares = Arc::new(PerPerson::new(2));
        let a = PerPerson::acquire(&shares, 1).await.expect("first");
        let b = PerPerson::acquire(&shares, 1).await.expect("second");
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), PerPerson::acquire(&shares, 1)).await;
        assert!(third.is_err(), "a third request of the same person waits");
        let other = PerPerson::acquire(&shares, 2).await.expect("another person is not held back");
        drop((a, other));
        let again = PerPerson::acquire(&shares, 1).await.expect("a place given back is free");
        drop((b, again));
        assert_eq!(shares.tracked(), 0, "people with nothing under way are not remembered");
    }
}
