//! Query parameters, checked the same way on every route. Each value is taken as text and
//! checked here, so each bad one gets its own code and names its `field`.
//!
//! The one rule: a parameter that is absent takes its default (no filter, the first page, the
//! default page size); a parameter that is present must have a valid value, and an empty or
//! blank one (`?cursor=`, `?brand_id=`) is not valid: 422 with the parameter's own code
//! (`INVALID_CURSOR`, `INVALID_BRAND_ID` ...) and `field`. An empty value is refused rather
//! than read as "no filter" because a client that sends `?brand_id=` meant some brand, and
//! answering for all of them would answer a question it did not ask. Surrounding spaces are
//! trimmed.

use std::{fmt::Display, str::FromStr};

use httpkit::ApiError;
use primitives::OrganizationId;

/// 422 with `code` and the offending parameter in `field`.
pub fn invalid(code: &'static str, field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::validation(code, detail).with_member("field", field)
}

/// A parameter: `None` when absent; its value when `parse` takes it (trimmed); else 422 `code`
/// naming `field`, whose detail says it must be `expected` (or that it is empty).
pub fn parse<T>(
    raw: Option<String>,
    code: &'static str,
    field: &'static str,
    expected: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let value = raw.trim();
    if value.is_empty() {
        return Err(invalid(
            code,
            field,
            format!("{field} is empty: give {expected}, or leave the parameter out"),
        ));
    }
    parse(value)
        .map(Some)
        .ok_or_else(|| invalid(code, field, format!("{field} must be {expected}")))
}

/// `limit`: a page size from 1 to `max`, `default` when absent (`INVALID_LIMIT`).
pub fn limit<N>(raw: Option<String>, default: N, max: N) -> Result<N, ApiError>
where
    N: FromStr + PartialOrd + From<u8> + Display + Copy,
{
    let expected = format!("an integer from 1 to {max}");
    let limit = parse(raw, "INVALID_LIMIT", "limit", &expected, |value| {
        value
            .parse::<N>()
            .ok()
            .filter(|limit| (N::from(1)..=max).contains(limit))
    })?;
    Ok(limit.unwrap_or(default))
}

/// `organization_id`: a UUID (`INVALID_ORGANIZATION_ID`).
pub fn organization(raw: Option<String>) -> Result<Option<OrganizationId>, ApiError> {
    parse(
        raw,
        "INVALID_ORGANIZATION_ID",
        "organization_id",
        "a UUID",
        |value| value.parse().ok(),
    )
}

/// `cursor`: the `next_cursor` of a previous page (`INVALID_CURSOR`).
pub fn cursor<T: FromStr>(raw: Option<String>) -> Result<Option<T>, ApiError> {
    parse(
        raw,
        "INVALID_CURSOR",
        "cursor",
        "the next_cursor of a previous page",
        |value| value.parse().ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: &ApiError) -> Option<&str> {
        error.member("field").and_then(|field| field.as_str())
    }

    #[test]
    fn absent_takes_the_default_and_empty_is_invalid_for_every_parameter() {
        assert_eq!(limit(None, 50_u32, 200).ok(), Some(50));
        assert_eq!(organization(None).ok(), Some(None));
        assert_eq!(cursor::<uuid::Uuid>(None).ok(), Some(None));
        for empty in ["", " ", "\t"] {
            let errors = [
                limit(Some(empty.into()), 50_u32, 200).err(),
                organization(Some(empty.into())).err(),
                cursor::<uuid::Uuid>(Some(empty.into())).err(),
            ];
            let named: Vec<_> = errors
                .iter()
                .map(|error| {
                    error
                        .as_ref()
                        .map(|e| (e.code(), field(e).map(str::to_owned)))
                })
                .collect();
            assert_eq!(
                named,
                [
                    Some(("INVALID_LIMIT", Some("limit".to_owned()))),
                    Some((
                        "INVALID_ORGANIZATION_ID",
                        Some("organization_id".to_owned())
                    )),
                    Some(("INVALID_CURSOR", Some("cursor".to_owned()))),
                ]
            );
            for error in errors.into_iter().flatten() {
                assert_eq!(error.status().as_u16(), 422);
                assert!(error.detail().unwrap_or_default().contains("is empty"));
            }
        }
    }

    #[test]
    fn limits_stay_in_range() {
        assert_eq!(limit(Some("200".into()), 50_u32, 200).ok(), Some(200));
        assert_eq!(limit(Some(" 1 ".into()), 100_usize, 1000).ok(), Some(1));
        assert_eq!(limit(Some("7".into()), 50_i64, 200).ok(), Some(7));
        for bad in ["0", "201", "-1", "x", "1.5", "99999999999999999999999"] {
            let error = limit(Some(bad.into()), 50_i64, 200).err();
            assert_eq!(error.as_ref().map(ApiError::code), Some("INVALID_LIMIT"));
            assert_eq!(
                error.as_ref().and_then(ApiError::detail),
                Some("limit must be an integer from 1 to 200")
            );
        }
    }
}
