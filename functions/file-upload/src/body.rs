//! The request body as the multipart parser reads it: one chunk per executor turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use galley_common::edge::time;

/// The request body, handed to the parser one chunk per executor turn.
///
/// multer's reader pulls chunks until its stream is pending, so on a fast link it would copy
/// everything the host has buffered (megabytes) into its own buffer before the file's reader
/// drains any of it; one chunk per turn keeps that buffer at a chunk or two. It also keeps
/// multer 3.1 from a misreading: when the first poll of a body finds nothing and its second
/// (within the same call) finds the whole rest *and* its end, multer reports the body
/// incomplete without looking at what it just read. Here a chunk and the end never arrive in
/// one call.
pub struct OnePerTurn<S> {
    inner: Pin<Box<S>>,
    turn: Option<time::YieldNow>,
}

impl<S: Stream> Stream for OnePerTurn<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        ready!(Pin::new(this.turn.get_or_insert_with(time::yield_now)).poll(cx));
        this.turn = None;
        this.inner.as_mut().poll_next(cx)
    }
}

impl<S> OnePerTurn<S> {
    pub fn new(inner: S) -> OnePerTurn<S> {
        OnePerTurn { inner: Box::pin(inner), turn: None }
    }
}
