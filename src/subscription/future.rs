//! The async side of a subscription: the [`Recv`] future and the `Stream`
//! impl, on any runtime.

use super::handle::Subscription;
use crate::error::Error;
use crate::notify::WaitKey;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

impl<E> futures_core::Stream for Subscription<E> {
    type Item = E;

    /// The next event; `None` once closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (`StreamExt::next` in a `select!`): a `Pending` poll
    /// takes nothing from the queue.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.poll_recv(cx).map(Result::ok)
    }
}

/// The future returned by [`Subscription::recv_async`].
#[must_use = "futures do nothing unless awaited"]
///
/// # Cancel safety
///
/// Cancel safe: dropping it before it completes loses no event and removes
/// its waker registration.
pub struct Recv<'a, E> {
    subscription: &'a Subscription<E>,
    key: WaitKey,
}

impl<'a, E> Recv<'a, E> {
    pub(super) fn new(subscription: &'a Subscription<E>) -> Self {
        Recv {
            subscription,
            key: WaitKey::default(),
        }
    }
}

impl<E> Future for Recv<'_, E> {
    type Output = Result<E, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.subscription.poll_recv_keyed(cx, &mut this.key)
    }
}

impl<E> Drop for Recv<'_, E> {
    fn drop(&mut self) {
        self.subscription.deregister(&mut self.key);
    }
}

impl<E> fmt::Debug for Recv<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}
