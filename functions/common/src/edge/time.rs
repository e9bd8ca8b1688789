//! Waiting without blocking the instance: a sleep driven by Spin's executor on a WASI
//! monotonic-clock pollable, so other futures of the same request keep running meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use spin_executor::CancelOnDropToken;
use wasi::clocks::monotonic_clock;

/// Ready once `duration` has passed.
pub async fn sleep(duration: Duration) {
    Sleep::new(duration).await
}

/// A future that is ready once its deadline has passed on the monotonic clock.
pub struct Sleep {
    deadline: u64,
    _registration: Option<CancelOnDropToken>,
}

impl Sleep {
    pub fn new(duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self { deadline: monotonic_clock::now().saturating_add(nanos), _registration: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.deadline {
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.deadline);
        // Replacing the token cancels the previous registration.
        self._registration = Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}
