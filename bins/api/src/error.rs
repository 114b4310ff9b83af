//! The error type of every handler: domain and infrastructure errors, mapped onto problems in
//! one place so a status or code is decided once, not per handler.

use axum::response::{IntoResponse, Response};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use http::StatusCode;
use httpkit::ApiError;
use tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Already a problem (validation at the edge, access checks).
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error("database error")]
    Database(#[from] DieselError),
    #[error("no database connection available")]
    Pool(#[from] db::PoolError),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Api(problem) => problem,
            AppError::Tenancy(error) => tenancy_problem(error),
            AppError::Database(error) => database_problem(&error),
            AppError::Pool(error) => ApiError::unavailable_from(&error),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

fn tenancy_problem(error: TenancyError) -> ApiError {
    let code = error.code();
    match error {
        TenancyError::OrganizationNotFound(_) => organization_not_found(),
        TenancyError::ApiKeyNotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, code, "API key not found")
                .with_detail("no such API key in this organization")
        }
        TenancyError::OrganizationExists(_) => {
            ApiError::conflict(code, "an organization with this id already exists")
        }
        TenancyError::InvalidName { .. } => ApiError::validation(code, error.to_string()),
        TenancyError::Database(error) => database_problem(&error),
    }
}

/// The same answer for a missing organization and for one the caller may not see (G11), so
/// ids cannot be probed.
pub fn organization_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ORGANIZATION_NOT_FOUND",
        "Organization not found",
    )
    .with_detail("no such organization")
}

fn database_problem(error: &DieselError) -> ApiError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            ApiError::unavailable_from(error)
        }
        _ => ApiError::internal_from(error),
    }
}
