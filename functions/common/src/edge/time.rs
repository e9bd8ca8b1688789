//! Waiting on the WASI monotonic clock, inside Spin's executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use spin_executor::CancelOnDropToken;
use wasi::clocks::monotonic_clock;

/// A future that is ready once `duration` has passed on the monotonic clock. It parks the
/// component on a clock pollable (driven by Spin's executor like any other WASI pollable)
/// rather than spinning, and can be raced against other futures (a call's timeout).
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep { deadline: monotonic_clock::now().saturating_add(nanos), registration: None }
}

/// See [`sleep`].
pub struct Sleep {
    deadline: u64,
    registration: Option<CancelOnDropToken>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.deadline {
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.deadline);
        // Replacing the token cancels the previous registration.
        self.registration = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}

/// A future that gives Spin's executor one turn, then is ready: it parks on a clock pollable
/// that is ready at once. A loop that would otherwise drain everything the host has buffered
/// in one go (a parser pulling a request body) can let its consumer run in between.
pub fn yield_now() -> YieldNow {
    YieldNow { registration: None }
}

/// See [`yield_now`].
pub struct YieldNow {
    registration: Option<CancelOnDropToken>,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registration.is_some() {
            return Poll::Ready(());
        }
        self.registration = Some(wake_next_turn(cx.waker().clone()));
        Poll::Pending
    }
}

/// Registers `waker` with Spin's executor on a clock pollable that is already due: the
/// executor wakes it after its next `wasi:io/poll`, i.e. on its next turn. (The executor
/// honours no other wake-up: see [`crate::wakes`].)
fn wake_next_turn(waker: std::task::Waker) -> CancelOnDropToken {
    spin_executor::push_waker_and_get_token(monotonic_clock::subscribe_duration(0), waker).into()
}

/// A future that is ready once Spin's executor has polled everything that could run and then
/// waited on the host: a batching window. Everything the executor can reach before it next
/// parks has run by then (a DataLoader's callers have all named their keys).
///
/// Unlike [`yield_now`], it is not ready merely because it is polled again (several callers
/// sharing one batch poll it in the same turn): only its pollable's wake-up, which the
/// executor delivers after `wasi:io/poll`, makes it ready.
pub fn next_turn() -> NextTurn {
    NextTurn { turned: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)), registration: None }
}

/// See [`next_turn`].
pub struct NextTurn {
    turned: std::sync::Arc<std::sync::atomic::AtomicBool>,
    registration: Option<CancelOnDropToken>,
}

/// Records that the executor woke the pollable, then passes the wake-up on.
struct TurnWaker {
    turned: std::sync::Arc<std::sync::atomic::AtomicBool>,
    inner: std::task::Waker,
}

impl std::task::Wake for TurnWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.turned.store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

impl Future for NextTurn {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.turned.load(std::sync::atomic::Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if self.registration.is_none() {
            let waker = std::sync::Arc::new(TurnWaker { turned: self.turned.clone(), inner: cx.waker().clone() }).into();
            self.registration = Some(wake_next_turn(waker));
        }
        Poll::Pending
    }
}

/// `future` under Spin's executor without lost wake-ups (see [`crate::wakes`]): a wake-up given
/// while it is polled asks the executor for another turn at once, through a clock pollable that
/// is already due.
pub fn no_lost_wakeups<F: Future>(future: F) -> impl Future<Output = F::Output> {
    crate::wakes::no_lost_wakeups(future, |waker: &std::task::Waker| wake_next_turn(waker.clone()))
}
