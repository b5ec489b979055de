//! `PUT` / `DELETE /api/v1/jobs/{id}/keep`: exempt a job from retention, or undo that.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mp3converter_core::JobState;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiUser;
use crate::routes::visible_job;
use crate::views::JobView;

/// Keep a job: retention never removes its video or audio and never expires it.
#[utoipa::path(put, path = "/api/v1/jobs/{id}/keep", tag = "jobs", operation_id = "keep_job",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job, now kept", body = JobView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
        (status = 409, description = "The job has expired: its files are gone", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn set(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    change(&state, &caller, &id, true).await
}

/// Stop keeping a job: retention applies to it again.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}/keep", tag = "jobs", operation_id = "unkeep_job",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job, no longer kept", body = JobView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
        (status = 409, description = "The job has expired: its files are gone", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn clear(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    change(&state, &caller, &id, false).await
}

async fn change(
    state: &GatewayState,
    caller: &crate::extract::Caller,
    id: &str,
    keep: bool,
) -> Result<Json<JobView>, ApiError> {
    let job = visible_job(state, caller, id).await?;
    if job.state == JobState::Expired {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "expired",
            "the job has expired: its files are gone",
        ));
    }
    if !state.db.set_job_keep(&job.id, keep).await? {
        return Err(ApiError::not_found());
    }
    let job = state
        .db
        .get_job(&job.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(job_id = %job.id, keep, by = %caller.id, "job keep flag changed");
    Ok(Json(JobView::from(&job)))
}
