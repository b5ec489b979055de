//! [`Tuning`]: how a queue worker treats its messages — the retry schedule, the lease it takes
//! and the grace period its in-flight work gets at shutdown — and [`Tunable`], the builder
//! methods every worker shares (`Converter::new(..).with_backoff(..).with_shutdown_grace(..)`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Backoff, DEFAULT_SHUTDOWN_GRACE, retry_delay};

/// A queue worker's retry schedule, lease and shutdown grace.
#[derive(Clone)]
pub struct Tuning {
    /// Delay before the next delivery of a message that failed transiently, by attempt.
    pub backoff: Backoff,
    /// How long a taken message stays hidden from other consumers (renewed while working).
    pub lease: Duration,
    /// How long in-flight work may run on after shutdown is requested.
    pub grace: Duration,
}

impl Tuning {
    /// The standard retry schedule ([`retry_delay`]), `lease`, and [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(lease: Duration) -> Tuning {
        Tuning {
            backoff: Arc::new(retry_delay),
            lease,
            grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// The delay before delivery number `attempt + 1`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        (self.backoff)(attempt)
    }
}

impl fmt::Debug for Tuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tuning")
            .field("lease", &self.lease)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// The builder methods of a worker that has a [`Tuning`].
pub trait Tunable: Sized {
    /// The worker's tuning.
    fn tuning_mut(&mut self) -> &mut Tuning;

    /// Replaces the retry schedule (tests use zero or very long delays).
    fn with_backoff(mut self, backoff: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        self.tuning_mut().backoff = Arc::new(backoff);
        self
    }

    /// The lease taken on each message (`queue.lease_secs`).
    fn with_lease(mut self, lease: Duration) -> Self {
        self.tuning_mut().lease = lease;
        self
    }

    /// How long in-flight work may run on after shutdown before it is cancelled and its message
    /// handed back. Keep it below the process's own grace period (`server.shutdown_grace_secs`).
    fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.tuning_mut().grace = grace;
        self
    }
}

/// Implements [`Tunable`] for a worker type whose [`Tuning`] is in its `tuning` field.
#[macro_export]
macro_rules! tunable {
    ($worker:ty) => {
        impl $crate::Tunable for $worker {
            fn tuning_mut(&mut self) -> &mut $crate::Tuning {
                &mut self.tuning
            }
        }
    };
}
