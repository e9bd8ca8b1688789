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
        let pollable = monotonic_clock::subscribe_duration(0);
        self.registration = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}
