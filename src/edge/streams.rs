//! Where an HTTP/2 connection's streams run. hyper hands each new stream (a
//! request with its response) to an executor; [`FirstPollInline`] runs the
//! stream's first poll inside the connection's own task, right after the
//! connection read its request, and only a stream that is still waiting after
//! that poll (an app request, an upload, a large body) becomes a task of its
//! own. A static file or a refusal is answered in that first poll, so it costs
//! no task, no trip through the scheduler and no hop to the other core, and
//! the connection sends every response it has by then in one go.
//!
//! Nothing else changes: a stream that waits runs on as its own task, in
//! parallel with the connection, exactly as with hyper's `TokioExecutor`.
//!
//! [`Driven`] is also where a corked connection's output is sent
//! ([`super::corked`]): once per turn, just before the task waits.

use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::corked::SendQueued;

type Stream = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How many times one poll of a connection hands it back the responses its
/// inline streams produced before yielding to the scheduler.
const ROUNDS: usize = 4;

/// The executor for one connection's streams; see the module docs. Give each
/// connection its own (the streams it queues are run by that connection's
/// [`Driven`]).
#[derive(Clone, Default)]
pub struct FirstPollInline {
    queued: Arc<Mutex<Vec<Stream>>>,
}

impl<F> hyper::rt::Executor<F> for FirstPollInline
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, stream: F) {
        let stream: Stream = Box::pin(async move {
            let _ = stream.await;
        });
        self.queued.lock().unwrap_or_else(PoisonError::into_inner).push(stream);
    }
}

impl FirstPollInline {
    /// Wraps the connection future that uses this executor, so that the
    /// streams it starts are run, and the output of a corked connection is
    /// sent before the task waits.
    pub fn drive<C: Future>(&self, connection: C, corked: Option<Box<dyn SendQueued>>) -> Driven<C, C::Output> {
        Driven { connection: Box::pin(connection), queued: self.queued.clone(), corked, done: None }
    }
}

/// The streams queued since the last call.
fn take(queued: &Mutex<Vec<Stream>>) -> Vec<Stream> {
    mem::take(&mut *queued.lock().unwrap_or_else(PoisonError::into_inner))
}

/// A connection future together with its streams' first polls and its
/// corked output.
pub struct Driven<C, O> {
    connection: Pin<Box<C>>,
    queued: Arc<Mutex<Vec<Stream>>>,
    corked: Option<Box<dyn SendQueued>>,
    /// The connection's result, held while its last output is sent.
    done: Option<O>,
}

impl<C, O> Future for Driven<C, O>
where
    C: Future<Output = O>,
    O: Unpin,
{
    type Output = O;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let this = &mut *self;
        if this.done.is_none() {
            this.run(cx);
        }
        // Whatever the turn queued goes out before the task waits.
        if let Some(corked) = &this.corked {
            match corked.send_queued(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    // The peer is gone: the connection's next write fails
                    // with this error (see `Corked`), or its next read sees it.
                    tracing::debug!(error = %e, "cannot send a connection's output");
                }
                Poll::Ready(Ok(())) => {}
            }
        }
        match this.done.take() {
            Some(done) => Poll::Ready(done),
            None => Poll::Pending,
        }
    }
}

impl<C: Future<Output = O>, O> Driven<C, O> {
    /// Polls the connection and the first polls of the streams it starts;
    /// sets `done` when the connection has ended.
    fn run(&mut self, cx: &mut Context<'_>) {
        for _ in 0..ROUNDS {
            let polled = self.connection.as_mut().poll(cx);
            let started = take(&self.queued);
            if let Poll::Ready(done) = polled {
                // Streams the connection started as it ended still finish.
                for stream in started {
                    tokio::spawn(stream);
                }
                self.done = Some(done);
                return;
            }
            if started.is_empty() {
                return;
            }
            let mut answered = false;
            for mut stream in started {
                // A panic ends only its stream, as it would in a task of its own.
                match panic::catch_unwind(AssertUnwindSafe(|| stream.as_mut().poll(cx))) {
                    Ok(Poll::Ready(())) => answered = true,
                    // It keeps the waker of its own task from its next poll on.
                    Ok(Poll::Pending) => drop(tokio::spawn(stream)),
                    Err(_) => tracing::error!("an HTTP/2 stream panicked; its request is dropped"),
                }
            }
            // Answered streams queued frames: let the connection send them
            // now rather than after another trip through the scheduler.
            if !answered {
                return;
            }
        }
        cx.waker().wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_ready_stream_runs_inline_and_a_waiting_one_runs_on_as_its_own_task() {
        let executor = FirstPollInline::default();
        let finished = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let mut released = Some(released);
        let connection = {
            let executor = executor.clone();
            let finished = finished.clone();
            let mut polls = 0;
            std::future::poll_fn(move |_| {
                polls += 1;
                if polls == 1 {
                    let quick = finished.clone();
                    executor.execute(async move {
                        quick.fetch_add(1, Ordering::SeqCst);
                    });
                    let slow = finished.clone();
                    let released = released.take().expect("first poll");
                    executor.execute(async move {
                        let _ = released.await;
                        slow.fetch_add(1, Ordering::SeqCst);
                    });
                    // Nothing wakes the connection again: only the driver
                    // polling it right after the quick stream's first poll.
                    return Poll::Pending;
                }
                assert_eq!(
                    finished.load(Ordering::SeqCst),
                    1,
                    "the quick stream ran before the connection's next poll"
                );
                Poll::Ready("closed")
            })
        };
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), executor.drive(connection, None)).await;
        assert_eq!(closed, Ok("closed"), "the connection was polled again in the same turn");
        // The connection is gone; the waiting stream runs on as its own task.
        release.send(()).expect("the waiting stream is alive");
        for _ in 0..1000 {
            if finished.load(Ordering::SeqCst) == 2 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the waiting stream never finished");
    }
}
