//! Runs the event bus conformance suite on the in-process bus and on the database poller
//! (SQLite, with its polling worker running).

use std::sync::Arc;
use std::time::Duration;

use mp3converter_db::conformance::ScratchDatabase;
use mp3converter_queue::conformance;
use mp3converter_queue::{DatabaseEvents, EventBus, InProcessEvents, run_worker};
use tokio_util::sync::CancellationToken;

/// A bus and what keeps it alive; dropping it stops the poller.
struct Bus {
    bus: Arc<dyn EventBus>,
    _scratch: Option<ScratchDatabase>,
    _stop: Option<tokio_util::sync::DropGuard>,
}

async fn in_process() -> Bus {
    Bus {
        bus: Arc::new(InProcessEvents::default()),
        _scratch: None,
        _stop: None,
    }
}

async fn database_poller() -> Bus {
    let scratch = ScratchDatabase::sqlite().await;
    let events = DatabaseEvents::new(scratch.db.clone(), Duration::from_millis(50));
    let stop = CancellationToken::new();
    tokio::spawn(run_worker(events.clone().into_worker(), stop.clone()));
    Bus {
        bus: Arc::new(events),
        _scratch: Some(scratch),
        _stop: Some(stop.drop_guard()),
    }
}

macro_rules! suite {
    ($adapter:ident, $open:expr, [$($check:ident),*]) => {
        mod $adapter {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let bus = $open;
                    conformance::$check(&*bus.bus).await;
                }
            )*
        }
    };
}

macro_rules! every_adapter {
    ($($t:tt)*) => {
        suite!(in_process, in_process().await, $($t)*);
        suite!(database_poller, database_poller().await, $($t)*);
    };
}

mp3converter_queue::event_checks!(every_adapter);

/// The whole suite on one poller, as `run_all_events` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_event_suite_passes_on_one_database_poller() {
    let bus = database_poller().await;
    conformance::run_all_events(&*bus.bus).await;
}
