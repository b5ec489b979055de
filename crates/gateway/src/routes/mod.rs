//! The route handlers, by area: the course's routes, jobs (and their retention `keep` flag), live
//! events, users, quotas, API keys, webhooks, share links, the podcast feed and single sign-on.

pub(crate) mod course;
pub(crate) mod estimate;
pub(crate) mod events;
pub(crate) mod feed;
pub(crate) mod jobs;
pub(crate) mod keep;
pub(crate) mod keys;
pub(crate) mod quotas;
pub(crate) mod shares;
pub(crate) mod sso;
pub(crate) mod users;
pub(crate) mod webhooks;

use mp3converter_core::{Job, JobId};

use crate::GatewayState;
use crate::error::ApiError;
use crate::extract::Caller;

/// The job `id` if `caller` may see it (owner or admin). Someone else's job, a missing one and a
/// malformed id all answer the same 404, so ids cannot be probed.
pub(crate) async fn visible_job(
    state: &GatewayState,
    caller: &Caller,
    id: &str,
) -> Result<Job, ApiError> {
    let Ok(id) = id.parse::<JobId>() else {
        return Err(ApiError::not_found());
    };
    let job = if caller.admin {
        state.db.get_job(&id).await?
    } else {
        state.db.get_job_for_owner(&id, &caller.id).await?
    };
    job.ok_or_else(ApiError::not_found)
}
