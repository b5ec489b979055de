//! The event bus conformance suite: what every [`EventBus`] adapter must do, run by each
//! adapter's tests through [`event_checks!`](crate::event_checks). Events carry fresh job ids,
//! so checks may share one bus.

use std::time::Duration;

use mp3converter_core::{JobEvent, JobId, JobState, UserId};
use tokio::sync::broadcast;

use crate::EventBus;

/// How long a check waits for an event that must arrive (a broker round trip at most).
const EVENT_WAIT: Duration = Duration::from_secs(5);
/// How long a check listens for an event that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

/// The suite's one list of checks: calls `$callback! { $($arg,)* [check, ...] }`; each check
/// is `async fn(&dyn EventBus)`. Adapter tests pass a macro that turns the names into tests, so
/// a new check is added here only.
#[macro_export]
macro_rules! event_checks {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! {
            $($arg,)*
            [
                published_event_reaches_every_subscriber_once,
                events_arrive_in_the_order_they_were_published,
                subscriber_hears_only_events_published_after_it_subscribed,
                dropped_subscriber_does_not_stop_the_others
            ]
        }
    };
}

macro_rules! define_run_all {
    ([$($check:ident),*]) => {
        /// Runs every event check on one bus.
        pub async fn run_all_events(bus: &dyn EventBus) {
            $($check(bus).await;)*
        }
    };
}

crate::event_checks!(define_run_all);

/// A converting job's progress event, for a job no other check uses.
pub fn progress_event(job_id: &JobId, progress: f64) -> JobEvent {
    JobEvent {
        job_id: job_id.clone(),
        owner_id: UserId::generate(),
        state: JobState::Converting,
        progress,
        error_code: None,
        error_message: None,
    }
}

/// The next event of `job_id` on `rx` (events of other checks sharing the bus are skipped).
async fn next_of(rx: &mut broadcast::Receiver<JobEvent>, job_id: &JobId) -> JobEvent {
    tokio::time::timeout(EVENT_WAIT, async {
        loop {
            match rx.recv().await {
                Ok(event) if &event.job_id == job_id => return event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the bus closed"),
            }
        }
    })
    .await
    .expect("an event within the wait")
}

/// Nothing more of `job_id` arrives on `rx` for a while.
async fn quiet_about(rx: &mut broadcast::Receiver<JobEvent>, job_id: &JobId) {
    if let Ok(extra) = tokio::time::timeout(QUIET, next_of(rx, job_id)).await {
        panic!("unexpected event {extra:?}");
    }
}

/// Every subscriber gets the event, once.
pub async fn published_event_reaches_every_subscriber_once(bus: &dyn EventBus) {
    let job = JobId::generate();
    let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
    let event = progress_event(&job, 0.25);
    bus.publish(event.clone());
    assert_eq!(next_of(&mut a, &job).await, event);
    assert_eq!(next_of(&mut b, &job).await, event);
    quiet_about(&mut a, &job).await;
    quiet_about(&mut b, &job).await;
}

/// One publisher's events arrive in order (progress never goes backwards on the page).
pub async fn events_arrive_in_the_order_they_were_published(bus: &dyn EventBus) {
    let job = JobId::generate();
    let mut rx = bus.subscribe();
    let sent: Vec<JobEvent> = [0.1, 0.5, 0.9]
        .iter()
        .map(|p| progress_event(&job, *p))
        .collect();
    for event in &sent {
        bus.publish(event.clone());
    }
    for event in &sent {
        assert_eq!(&next_of(&mut rx, &job).await, event);
    }
}

/// A subscription starts at the moment it is taken: earlier events are not replayed.
pub async fn subscriber_hears_only_events_published_after_it_subscribed(bus: &dyn EventBus) {
    let job = JobId::generate();
    let mut early = bus.subscribe();
    let before = progress_event(&job, 0.2);
    bus.publish(before.clone());
    assert_eq!(next_of(&mut early, &job).await, before);
    let mut late = bus.subscribe();
    let after = progress_event(&job, 0.4);
    bus.publish(after.clone());
    assert_eq!(
        next_of(&mut late, &job).await,
        after,
        "no replay of earlier events"
    );
}

/// A subscriber that goes away does not affect the rest.
pub async fn dropped_subscriber_does_not_stop_the_others(bus: &dyn EventBus) {
    let job = JobId::generate();
    let gone = bus.subscribe();
    let mut kept = bus.subscribe();
    drop(gone);
    let event = progress_event(&job, 0.6);
    bus.publish(event.clone());
    assert_eq!(next_of(&mut kept, &job).await, event);
}
