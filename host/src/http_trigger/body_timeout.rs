//! A request body that fails when its client stops sending.
//!
//! hyper waits for a body's bytes as long as the connection stays open, so a client that
//! declares `content-length: 100` and sends ten bytes would hold a component instance until the
//! request time limit. Wrapped in [`IdleTimeout`], the body fails with a read timeout once the
//! reader has waited `idle` for the next frame; the component sees an ordinary stream error
//! and answers (a 400 from Galley's functions). Time the component spends elsewhere (a
//! database call before it reads) does not count: the clock runs only while a read waits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

pub struct IdleTimeout<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the timer measures a wait in progress.
    waiting: bool,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, idle: Duration) -> Self {
        IdleTimeout { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), waiting: false }
    }
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for IdleTimeout<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!(idle = ?this.idle, "request body stalled; failing the read");
                        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                    }
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
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_idle_time_and_a_slow_reader_does_not() {
        // One frame, then nothing (the sender is kept alive, as a stalled client's socket is).
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Error>>(4);
        sender.send(Ok(Frame::data(Bytes::from_static(b"0123456789")))).await.unwrap();
        let stream = tokio_stream_from(receiver);
        let idle = Duration::from_millis(200);
        let mut body = IdleTimeout::new(StreamBody::new(stream), idle);
        // Time the reader spends before reading does not count against the client.
        tokio::time::sleep(idle * 3).await;
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"0123456789"));
        let started = Instant::now();
        let stalled = body.frame().await.unwrap();
        assert!(matches!(stalled, Err(Error::ConnectionReadTimeout)));
        assert!(started.elapsed() >= idle, "the read waited out the idle time first");
        drop(sender);
    }

    fn tokio_stream_from(
        mut receiver: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Error>>,
    ) -> impl futures::Stream<Item = Result<Frame<Bytes>, Error>> + Unpin {
        Box::pin(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)))
    }
}
