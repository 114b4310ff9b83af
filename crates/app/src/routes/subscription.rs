//! `/v1/subscription` and `/v1/entitlements`: the caller's own organization, named by its API
//! key rather than by the path. The admin reads the same through `/v1/admin/organizations/...`.

use axum::extract::State;
use db::AsyncPgConnection;
use http::StatusCode;
use httpkit::{ApiError, ApiJson, ApiPath, ApiQuery, OrganizationOnly, ProblemBody};
use primitives::OrganizationId;
use subscriptions::{Feature, Subscription, history::MAX_PAGE, lookup};

use super::responses::OrganizationKeyRequired;
use crate::{
    AppError, AppState,
    error::subscription_not_found,
    wire::subscriptions::{
        EntitlementView, EntitlementsResponse, HistoryResponse, PageParams, SubscriptionResponse,
        TransitionView,
    },
};

/// Page size of the history and event log when `limit` is not given.
pub const DEFAULT_PAGE: i64 = 50;

// ---------------------------------------------------------------------------------------------
// Helpers shared with the admin routes

/// `limit`: an integer from 1 to 200, else 422 `INVALID_LIMIT` (see `query`).
pub(super) fn page_limit(params: PageParams) -> Result<i64, ApiError> {
    super::query::limit(params.limit, DEFAULT_PAGE, MAX_PAGE)
}

/// The organization's live subscription, else its latest; 404 `SUBSCRIPTION_NOT_FOUND`.
pub(super) async fn current_subscription(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Subscription, AppError> {
    lookup::current_for_organization(conn, organization_id)
        .await?
        .ok_or_else(|| subscription_not_found().into())
}

pub(super) async fn history(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    limit: i64,
) -> Result<HistoryResponse, AppError> {
    let subscription = current_subscription(conn, organization_id).await?;
    let transitions = subscriptions::history::transitions(conn, subscription.id, limit).await?;
    Ok(HistoryResponse {
        subscription_id: subscription.id,
        transitions: transitions.into_iter().map(TransitionView::from).collect(),
    })
}

pub(super) async fn all_entitlements(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<EntitlementsResponse, AppError> {
    let decisions = subscriptions::access::entitlements(conn, organization_id).await?;
    Ok(EntitlementsResponse {
        // One status for all: every decision was made from the same subscription.
        subscription_status: decisions
            .first()
            .and_then(|decision| decision.status)
            .map(|status| status.as_str().to_owned()),
        entitlements: decisions.into_iter().map(EntitlementView::from).collect(),
    })
}

/// A feature's name from the path; 404 `UNKNOWN_FEATURE` (with `known_features`) for any other.
fn feature(name: &str) -> Result<Feature, ApiError> {
    Feature::parse(name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "UNKNOWN_FEATURE", "Unknown feature")
            .with_detail("no such feature; see known_features")
            .with_member("known_features", Feature::ALL.map(Feature::as_str).to_vec())
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The organization's subscription: the live one, else the most recent one that ended.
#[utoipa::path(
    get,
    path = "/v1/subscription",
    tag = "subscription",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription.", body = SubscriptionResponse),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "The organization never had a subscription \
            (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_subscription(
    State(state): State<AppState>,
    own: OrganizationOnly,
) -> Result<ApiJson<SubscriptionResponse>, AppError> {
    let mut conn = state.conn().await?;
    let subscription = current_subscription(&mut conn, own.organization_id).await?;
    Ok(ApiJson(subscription.into()))
}

/// The subscription's transitions, newest first.
#[utoipa::path(
    get,
    path = "/v1/subscription/history",
    tag = "subscription",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest transitions.", body = HistoryResponse),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No subscription (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_LIMIT`, `VALIDATION_FAILED`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn subscription_history(
    State(state): State<AppState>,
    own: OrganizationOnly,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<ApiJson<HistoryResponse>, AppError> {
    let limit = page_limit(params)?;
    let mut conn = state.conn().await?;
    Ok(ApiJson(
        history(&mut conn, own.organization_id, limit).await?,
    ))
}

/// Every feature: whether the organization may use it now, and every reason it may not.
#[utoipa::path(
    get,
    path = "/v1/entitlements",
    tag = "entitlements",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every feature.", body = EntitlementsResponse),
        (status = 403, response = OrganizationKeyRequired),
    )
)]
pub async fn list_entitlements(
    State(state): State<AppState>,
    own: OrganizationOnly,
) -> Result<ApiJson<EntitlementsResponse>, AppError> {
    let mut conn = state.conn().await?;
    Ok(ApiJson(
        all_entitlements(&mut conn, own.organization_id).await?,
    ))
}

/// One feature: whether the organization may use it now, and every reason it may not. This is
/// the same decision the API's feature gates apply (402 `FEATURE_NOT_ALLOWED`).
#[utoipa::path(
    get,
    path = "/v1/entitlements/{feature}",
    tag = "entitlements",
    params(("feature" = String, Path, description = "The feature's name, e.g. `send_messages`.",
        example = "send_messages")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision.", body = EntitlementView),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No such feature (`UNKNOWN_FEATURE`, with \
            `known_features`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_entitlement(
    State(state): State<AppState>,
    own: OrganizationOnly,
    ApiPath(name): ApiPath<String>,
) -> Result<ApiJson<EntitlementView>, AppError> {
    let feature = feature(&name)?;
    let mut conn = state.conn().await?;
    let decision =
        subscriptions::access::entitlement(&mut conn, own.organization_id, feature).await?;
    Ok(ApiJson(decision.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
        page_limit(PageParams {
            limit: raw.map(str::to_owned),
        })
    }

    #[test]
    fn limits_are_1_to_200_defaulting_to_50() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some("1")).unwrap(), 1);
        assert_eq!(limit(Some(" 200 ")).unwrap(), 200);
        for bad in ["0", "201", "-1", "x", "", "1.5", "99999999999999999999"] {
            let error = limit(Some(bad)).unwrap_err();
            assert_eq!(error.code(), "INVALID_LIMIT", "{bad:?}");
            assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }

    #[test]
    fn features_are_known_by_their_snake_case_names() {
        assert_eq!(feature("send_messages").unwrap(), Feature::SendMessages);
        let error = feature("send-messages").unwrap_err();
        assert_eq!(error.code(), "UNKNOWN_FEATURE");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            error
                .member("known_features")
                .and_then(|known| known.as_array())
                .map(Vec::len),
            Some(Feature::ALL.len())
        );
    }
}
