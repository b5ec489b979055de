//! The notifier role: workers that take `mp3` messages and email the job's owner once.
//! Readiness: the database, the queue and the mail backend.

use mp3converter_notifier::Tunable as _;
use std::time::Duration;

use mp3converter_notifier::{Notifier, NotifierDeps};

use super::{Builder, Context};

/// Adds the notifier worker and its checks.
pub(super) fn add(cx: &Context<'_>, parts: &mut Builder) {
    let (config, backends) = (cx.config, cx.backends);
    let notifier = Notifier::new(
        NotifierDeps {
            db: backends.db.clone(),
            queue: backends.queue.clone(),
            mailer: backends.mailer.clone(),
            mp3_queue: config.queue.mp3_queue.clone(),
            public_url: cx.public_url.clone(),
        },
        config.notifier.clone(),
    )
    .with_lease(Duration::from_secs(config.queue.lease_secs))
    .with_shutdown_grace(super::worker_grace(config));
    parts.worker(notifier.into_worker());

    parts.check_database(backends);
    parts.check_queue(backends);
    parts.check_mail(backends);
}
