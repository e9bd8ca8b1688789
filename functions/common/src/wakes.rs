//! Wake-ups that Spin's executor would lose.
//!
//! Spin's executor (`spin_executor::run`, under every `#[http_component]`) hands the handler's
//! future a waker that does nothing: it polls the future again only once one of the host
//! pollables registered with it is ready, and it panics if the future is pending with none
//! registered (the component traps; the caller sees an empty 500). That suffices while every
//! wait is a wait on the host. It loses a wake-up that one future gives another:
//!
//! - a `Shared` future completed by one of its holders wakes the others, which were polled
//!   earlier in the same pass and are still pending; if the completing poll also dropped the
//!   last pollable (a response body read to its end), nothing is left to wait on;
//! - `FuturesUnordered` (behind `join_all` of more than 30 futures) stops after a budget of
//!   polls and wakes its caller to be polled again.
//!
//! The gateway meets the first whenever a product batch's response body is still arriving
//! while the order lines that share it are polled: one line's poll leaves the body half read
//! and waits on it, the next line's poll finds the rest and ends the batch. A rare, timing-led
//! 500.
//!
//! [`NoLostWakeups`] wraps such a future: a wake-up given while it is being polled becomes a
//! request for another turn (on Spin, a clock pollable that is ready at once), so the executor
//! polls it again instead of stranding it. Plain Rust: the edge supplies how to ask for a turn.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// `future`, polled again whenever something woke it while it was being polled: `another_turn`
/// asks the executor for one more turn (whose registration is kept until the next poll) and
/// wakes the given waker when it comes.
pub fn no_lost_wakeups<F, A, R>(future: F, another_turn: A) -> NoLostWakeups<F, A, R>
where
    F: Future,
    A: FnMut(&Waker) -> R,
{
    NoLostWakeups { future: Box::pin(future), another_turn, turn: None, woken: Arc::new(AtomicBool::new(false)) }
}

/// See [`no_lost_wakeups`].
pub struct NoLostWakeups<F, A, R> {
    future: Pin<Box<F>>,
    another_turn: A,
    /// The registration of the turn asked for, held until it has served.
    turn: Option<R>,
    /// Whether a waker handed to `future` was woken since this poll began.
    woken: Arc<AtomicBool>,
}

/// The waker `future` sees: records the wake-up, and passes it on to the executor's own waker
/// (so that under an executor that does honour wakers, nothing changes).
struct Recording {
    woken: Arc<AtomicBool>,
    outer: Waker,
}

impl Wake for Recording {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer.wake_by_ref();
    }
}

impl<F, A, R> Future for NoLostWakeups<F, A, R>
where
    F: Future,
    A: FnMut(&Waker) -> R + Unpin,
    R: Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Being polled is the turn asked for (or makes it moot); a wake-up before this poll
        // began is served by this poll.
        this.turn = None;
        this.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(Arc::new(Recording { woken: this.woken.clone(), outer: cx.waker().clone() }));
        match this.future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => Poll::Ready(output),
            Poll::Pending => {
                if this.woken.load(Ordering::SeqCst) {
                    this.turn = Some((this.another_turn)(cx.waker()));
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// A registration with the model executor; dropping it withdraws it, as dropping a
    /// `CancelOnDropToken` withdraws a pollable from Spin's.
    struct Registration(Rc<Cell<bool>>);

    impl Drop for Registration {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }

    thread_local! {
        /// What the model executor waits on: (still registered, waker). Every entry is "ready"
        /// as soon as the executor looks, like a clock pollable due now.
        static REGISTERED: RefCell<Vec<(Rc<Cell<bool>>, Waker)>> = const { RefCell::new(Vec::new()) };
    }

    fn register(waker: &Waker) -> Registration {
        let live = Rc::new(Cell::new(true));
        REGISTERED.with(|r| r.borrow_mut().push((live.clone(), waker.clone())));
        Registration(live)
    }

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// `spin_executor::run` in miniature: a waker that does nothing; after each pending poll,
    /// wakes what is registered, or fails where Spin's panics (nothing registered).
    fn run_as_spin_does<T>(future: impl Future<Output = T>) -> Result<T, &'static str> {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(Arc::new(Noop));
        for _ in 0..100 {
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Ok(output);
            }
            let live: Vec<Waker> =
                REGISTERED.with(|r| r.borrow_mut().drain(..).filter(|(live, _)| live.get()).map(|(_, w)| w).collect());
            if live.is_empty() {
                return Err("pending with nothing to wait on");
            }
            live.into_iter().for_each(Waker::wake);
        }
        Err("never finished")
    }

    /// A read of a response body: its first poll finds part of it and waits on the stream; the
    /// next finds the rest and ends, withdrawing that wait.
    #[derive(Default)]
    struct BodyRead {
        polls: u32,
        waiting: Option<Registration>,
    }

    impl Future for BodyRead {
        type Output = u32;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls += 1;
            if self.polls == 1 {
                self.waiting = Some(register(cx.waker()));
                return Poll::Pending;
            }
            self.waiting = None;
            Poll::Ready(42)
        }
    }

    fn body_read() -> BodyRead {
        BodyRead::default()
    }

    /// Two order lines sharing one product batch, polled one after the other in one pass.
    fn two_lines_sharing_a_batch() -> impl Future<Output = (u32, u32)> {
        let batch = body_read().shared();
        futures::future::join(batch.clone(), batch)
    }

    #[test]
    fn spins_executor_strands_a_holder_that_the_completing_holder_woke() {
        assert_eq!(run_as_spin_does(two_lines_sharing_a_batch()), Err("pending with nothing to wait on"));
    }

    #[test]
    fn a_wake_up_during_the_poll_becomes_another_turn() {
        assert_eq!(run_as_spin_does(no_lost_wakeups(two_lines_sharing_a_batch(), register)), Ok((42, 42)));
    }

    #[test]
    fn a_future_woken_only_by_the_host_asks_for_no_extra_turn() {
        let turns = Rc::new(Cell::new(0));
        let counted = {
            let turns = turns.clone();
            move |waker: &Waker| {
                turns.set(turns.get() + 1);
                register(waker)
            }
        };
        assert_eq!(run_as_spin_does(no_lost_wakeups(body_read(), counted)), Ok(42));
        assert_eq!(turns.get(), 0, "no busy polling: the host's own wake-up was enough");
    }

    #[test]
    fn the_executors_own_waker_still_hears_every_wake_up() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl Wake for Counting {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let outer = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(outer.clone());
        let mut future = std::pin::pin!(no_lost_wakeups(two_lines_sharing_a_batch(), register));
        assert!(future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        assert!(outer.0.load(Ordering::SeqCst) >= 1, "the stranded holder's wake-up reached the executor");
        REGISTERED.with(|r| r.borrow_mut().clear());
    }
}
