//! [`BoxSink`]: a sink chosen at run time. [`Sink`] returns `impl Future` and so is not
//! dyn-compatible; [`DynSink`] is its object-safe twin (boxed futures), implemented for every
//! [`Sink`], and `Box<dyn DynSink>` is a [`Sink`] again.

use futures_util::future::BoxFuture;

use super::seam::{AckProgress, Sink, SinkAck, SinkError};
use crate::event::ChangeEvent;

/// The object-safe form of [`Sink`]; implemented for every `Sink`.
pub trait DynSink: Send {
    /// [`Sink::send`], boxed.
    fn send_boxed<'a>(&'a mut self, batch: &'a [ChangeEvent]) -> BoxFuture<'a, Result<SinkAck, SinkError>>;
    /// [`Sink::check`], boxed.
    fn check_boxed(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
    /// [`Sink::acknowledgements`].
    fn acknowledgements_dyn(&self) -> Option<tokio::sync::watch::Receiver<AckProgress>>;
}

impl<S: Sink> DynSink for S {
    fn send_boxed<'a>(&'a mut self, batch: &'a [ChangeEvent]) -> BoxFuture<'a, Result<SinkAck, SinkError>> {
        Box::pin(self.send(batch))
    }

    fn check_boxed(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(self.check())
    }

    fn acknowledgements_dyn(&self) -> Option<tokio::sync::watch::Receiver<AckProgress>> {
        self.acknowledgements()
    }
}

/// A sink chosen at run time (one allocation per batch for the boxed future).
pub type BoxSink = Box<dyn DynSink>;

impl Sink for BoxSink {
    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        self.as_mut().send_boxed(batch).await
    }

    async fn check(&mut self) -> Result<(), SinkError> {
        self.as_mut().check_boxed().await
    }

    fn acknowledgements(&self) -> Option<tokio::sync::watch::Receiver<AckProgress>> {
        self.as_ref().acknowledgements_dyn()
    }
}
