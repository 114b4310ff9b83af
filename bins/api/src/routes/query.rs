//! Query parameters the operator listings share. Each value is taken as text and checked here,
//! so each bad one gets its own code and names its `field`; an empty value is no filter, so a
//! form or a script may send every parameter.

use std::str::FromStr;

use httpkit::ApiError;
use primitives::OrganizationId;

/// The value, unless it is absent or blank.
pub fn given(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// 422 with `code` and the offending parameter in `field`.
pub fn invalid(code: &'static str, field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::validation(code, detail).with_member("field", field)
}

/// `limit`: a page size from 1 to `max`, `default` when absent (`INVALID_LIMIT`, also when
/// empty: a page size is not a filter).
pub fn limit(raw: Option<String>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| {
                invalid(
                    "INVALID_LIMIT",
                    "limit",
                    format!("limit must be an integer from 1 to {max}"),
                )
            }),
    }
}

/// `organization_id`: a UUID (`INVALID_ORGANIZATION_ID`).
pub fn organization(raw: Option<String>) -> Result<Option<OrganizationId>, ApiError> {
    given(raw)
        .map(|raw| {
            raw.trim().parse::<OrganizationId>().map_err(|_| {
                invalid(
                    "INVALID_ORGANIZATION_ID",
                    "organization_id",
                    "organization_id must be a UUID",
                )
            })
        })
        .transpose()
}

/// `cursor`: the `next_cursor` of a previous page (`INVALID_CURSOR`).
pub fn cursor<T: FromStr>(raw: Option<String>) -> Result<Option<T>, ApiError> {
    given(raw)
        .map(|raw| {
            raw.trim().parse::<T>().map_err(|_| {
                invalid(
                    "INVALID_CURSOR",
                    "cursor",
                    "cursor must be the next_cursor of a previous page",
                )
            })
        })
        .transpose()
}
