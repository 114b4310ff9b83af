//! Feature gates (G6): a route that needs a paid feature takes [`RequireFeature`] and answers
//! 402 `FEATURE_NOT_ALLOWED` when the organization's subscription does not allow it.
//!
//! ```
//! use app::entitlement::{RequireFeature, features::SendMessages};
//!
//! async fn start_campaign(gate: RequireFeature<SendMessages>) -> String {
//!     format!("{} may send", gate.organization_id)
//! }
//! ```
//!
//! Which organization is checked:
//!
//! - the `organization_id` path parameter, when the route has one: the admin acting on it, or
//!   that organization's own key; any other key gets the generic 404, as for every resource it
//!   may not see (G11);
//! - otherwise the caller's own organization (an organization key); the admin, who belongs to
//!   none, gets 403 `ORGANIZATION_KEY_REQUIRED`.
//!
//! The credential is checked first (401 before anything is looked up). The decision comes from
//! the router state through [`EntitlementCheck`]: the app's state answers it over the database,
//! the tests below with a fake.
//!
//! A refusal is a problem document such as:
//!
//! ```json
//! {"type": "urn:problem-type:feature-not-allowed", "title": "Feature not allowed", "status": 402,
//!  "code": "FEATURE_NOT_ALLOWED", "detail": "send_messages is not allowed: SUBSCRIPTION_INACTIVE, ACCESS_BLOCKED",
//!  "feature": "send_messages", "subscription_status": "past_due",
//!  "reasons": [{"code": "SUBSCRIPTION_INACTIVE"},
//!              {"code": "ACCESS_BLOCKED", "source": "billing", "reason": "payment failed"}]}
//! ```
//!
//! Every reason that applies is listed, not only the first, so a client can tell the customer
//! everything that stands in the way.

use std::{future::Future, marker::PhantomData};

use axum::extract::{FromRef, FromRequestParts, RawPathParams, rejection::RawPathParamsRejection};
use http::{StatusCode, request::Parts};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};
use subscriptions::{AccessDecision, DenialReason, Feature};
use utoipa::ToSchema;

use httpkit::{ApiError, Auth, Authenticated, Principal};

/// The path parameter that names the organization on organization-scoped routes.
pub const ORGANIZATION_PATH_PARAMETER: &str = "organization_id";

/// Decides whether an organization may use a feature. The router state implements it (the api
/// over the subscriptions tables); tests substitute a fake.
///
/// `Ok` with a denying decision is a refusal; `Err` is a failure to decide (database down) and
/// is answered as it is, never as a refusal or an allowance.
pub trait EntitlementCheck: Send + Sync {
    fn check(
        &self,
        organization: OrganizationId,
        feature: Feature,
    ) -> impl Future<Output = Result<AccessDecision, ApiError>> + Send;
}

/// A type that stands for one [`Feature`], so a route's requirement is part of its signature:
/// `RequireFeature<features::SendMessages>`.
pub trait FeatureMarker: Send + Sync + 'static {
    const FEATURE: Feature;
}

/// One marker type per [`Feature`], named like its variant.
pub mod features {
    use subscriptions::Feature;

    use super::FeatureMarker;

    macro_rules! markers {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("Marker for `Feature::", stringify!($name), "`.")]
                #[derive(Debug, Clone, Copy, PartialEq, Eq)]
                pub struct $name;

                impl FeatureMarker for $name {
                    const FEATURE: Feature = Feature::$name;
                }
            )*

            /// The feature of every marker, in declaration order (a test holds it equal to
            /// `Feature::ALL`, so a new feature cannot lack a marker).
            pub const MARKED: &[Feature] = &[$(Feature::$name),*];
        };
    }

    markers!(
        SendMessages,
        SendAiMessages,
        BroadcastCampaigns,
        AddContacts,
        AddDevices,
        ManageLeads,
        UseAiFeatures,
        ViewData,
        UpdatePaymentMethod,
        ViewInvoices,
        ManageAccountSettings,
    );
}

/// A caller whose organization may use feature `F`. Rejections: 401 (no valid credential),
/// 403 `ORGANIZATION_KEY_REQUIRED` or 404 (see the module docs), 402 `FEATURE_NOT_ALLOWED`, or
/// whatever the [`EntitlementCheck`] failed with.
#[derive(Debug, Clone, Copy)]
pub struct RequireFeature<F> {
    pub organization_id: OrganizationId,
    pub principal: Principal,
    /// `fn() -> F` rather than `F`: the marker is only a name, and this keeps the extractor
    /// `Send + Sync` whatever `F` is.
    _feature: PhantomData<fn() -> F>,
}

impl<F: FeatureMarker> RequireFeature<F> {
    pub const fn feature(&self) -> Feature {
        F::FEATURE
    }
}

impl<S, F> FromRequestParts<S> for RequireFeature<F>
where
    S: EntitlementCheck,
    Auth: FromRef<S>,
    F: FeatureMarker,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        let organization_id = organization_of(parts, state, &principal).await?;
        require_feature(state, organization_id, F::FEATURE).await?;
        Ok(Self {
            organization_id,
            principal,
            _feature: PhantomData,
        })
    }
}

/// The organization the gate applies to (see the module docs).
async fn organization_of<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    principal: &Principal,
) -> Result<OrganizationId, ApiError> {
    let in_path = match RawPathParams::from_request_parts(parts, state).await {
        Ok(params) => params
            .iter()
            .find(|(name, _)| *name == ORGANIZATION_PATH_PARAMETER)
            .map(|(_, value)| value.parse::<OrganizationId>().ok()),
        // A segment that is not UTF-8 names no organization: the same 404 as a malformed id.
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => Some(None),
        // No parameters at all: the route is not organization-scoped.
        Err(_) => None,
    };
    match in_path {
        Some(Some(organization_id)) if principal.may_access(organization_id) => Ok(organization_id),
        Some(_) => Err(ApiError::not_found()),
        None => principal
            .organization_id()
            .ok_or_else(ApiError::organization_key_required),
    }
}

/// The gate without the extractor, for a handler that learns the organization some other way:
/// the decision if `feature` is allowed, else 402 `FEATURE_NOT_ALLOWED`.
pub async fn require_feature<C: EntitlementCheck + ?Sized>(
    check: &C,
    organization_id: OrganizationId,
    feature: Feature,
) -> Result<AccessDecision, ApiError> {
    let decision = check.check(organization_id, feature).await?;
    if decision.allowed() {
        return Ok(decision);
    }
    let codes: Vec<&str> = decision
        .denied_because
        .iter()
        .map(DenialReason::code)
        .collect();
    tracing::info!(
        %organization_id,
        feature = feature.as_str(),
        reasons = ?codes,
        "feature not allowed"
    );
    metrics::counter!("feature_denied_total", "feature" => feature.as_str()).increment(1);
    Err(feature_not_allowed(&decision))
}

/// 402 `FEATURE_NOT_ALLOWED` for a denying decision, with `feature`, `subscription_status`
/// (null without a subscription) and every reason.
pub fn feature_not_allowed(decision: &AccessDecision) -> ApiError {
    let reasons: Vec<DenialReasonBody> = decision
        .denied_because
        .iter()
        .map(DenialReasonBody::from)
        .collect();
    let codes: Vec<&str> = reasons.iter().map(|reason| reason.code.as_str()).collect();
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "FEATURE_NOT_ALLOWED",
        "Feature not allowed",
    )
    .with_detail(format!(
        "{} is not allowed: {}",
        decision.feature.as_str(),
        codes.join(", ")
    ))
    .with_member("feature", decision.feature.as_str())
    .with_member(
        "subscription_status",
        decision.status.map(|status| status.as_str()),
    )
    .with_member("reasons", reasons)
}

/// Why a feature is denied, on the wire: in 402 problems and in the api's entitlement views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DenialReasonBody {
    /// `NO_SUBSCRIPTION`, `SUBSCRIPTION_INACTIVE` (the status does not allow the feature) or
    /// `ACCESS_BLOCKED`.
    #[schema(example = "ACCESS_BLOCKED")]
    pub code: String,
    /// Who blocked access (`billing`, `admin`, `customer`); `ACCESS_BLOCKED` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "billing")]
    pub source: Option<String>,
    /// The block's reason, as its source recorded it; `ACCESS_BLOCKED` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&DenialReason> for DenialReasonBody {
    fn from(reason: &DenialReason) -> Self {
        let (source, text) = match reason {
            DenialReason::Blocked { source, reason } => {
                (Some(source.as_str().to_owned()), Some(reason.clone()))
            }
            DenialReason::NoSubscription | DenialReason::Status { .. } => (None, None),
        };
        Self {
            code: reason.code().to_owned(),
            source,
            reason: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use axum::{Router, body::Body, routing::get};
    use chrono::Utc;
    use futures::future::BoxFuture;
    use http::{Request, header};
    use http_body_util::BodyExt;
    use primitives::ApiKeyId;
    use secrecy::SecretString;
    use serde_json::{Value, json};
    use subscriptions::{AccessBlock, BlockSource, SubscriptionStatus, entitlements};
    use tower::ServiceExt;

    use super::{
        features::{SendMessages, ViewData},
        *,
    };
    use httpkit::{AdminToken, AuthError, Authenticator, PROBLEM_CONTENT_TYPE};

    const ADMIN: &str = "admin-token-for-the-entitlement-tests";

    /// What the fake knows about one organization: its status and blocks.
    type Standing = (Option<SubscriptionStatus>, Vec<AccessBlock>);

    #[derive(Clone)]
    struct FakeState {
        auth: Auth,
        standings: Arc<HashMap<OrganizationId, Standing>>,
        /// How often the check ran, to prove a refused credential costs no lookup.
        checks: Arc<AtomicUsize>,
        /// Makes every check fail as a database outage would.
        unavailable: bool,
    }

    impl FromRef<FakeState> for Auth {
        fn from_ref(state: &FakeState) -> Self {
            state.auth.clone()
        }
    }

    impl EntitlementCheck for FakeState {
        async fn check(
            &self,
            organization: OrganizationId,
            feature: Feature,
        ) -> Result<AccessDecision, ApiError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            if self.unavailable {
                return Err(ApiError::service_unavailable("database down"));
            }
            let (status, blocks) = self
                .standings
                .get(&organization)
                .cloned()
                .unwrap_or_default();
            Ok(entitlements::decide(status, &blocks, feature))
        }
    }

    /// Organization keys: `key-<n>` belongs to the n-th organization.
    struct Keys(Vec<OrganizationId>);

    impl Authenticator for Keys {
        fn authenticate<'a>(
            &'a self,
            bearer: &'a str,
        ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
            let principal = bearer
                .strip_prefix("key-")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.0.get(n))
                .map(|organization_id| Principal::Organization {
                    organization_id: *organization_id,
                    key_id: ApiKeyId::new(),
                });
            Box::pin(std::future::ready(Ok(principal)))
        }
    }

    fn block(source: BlockSource, reason: &str) -> AccessBlock {
        AccessBlock {
            source,
            reason: reason.to_owned(),
            actor: "test".to_owned(),
            since: Utc::now(),
        }
    }

    struct Fixture {
        router: Router,
        checks: Arc<AtomicUsize>,
        orgs: Vec<OrganizationId>,
    }

    /// Organizations 0..n with the given standings; `key-i` is organization i's key.
    fn fixture(standings: Vec<Standing>, unavailable: bool) -> Fixture {
        let orgs: Vec<OrganizationId> = standings.iter().map(|_| OrganizationId::new()).collect();
        let admin = AdminToken::new(&SecretString::from(ADMIN.to_owned())).unwrap();
        let checks = Arc::new(AtomicUsize::new(0));
        let state = FakeState {
            auth: Auth::new(admin, Arc::new(Keys(orgs.clone()))),
            standings: Arc::new(orgs.iter().copied().zip(standings).collect()),
            checks: checks.clone(),
            unavailable,
        };
        async fn send(gate: RequireFeature<SendMessages>) -> String {
            assert_eq!(gate.feature(), Feature::SendMessages);
            gate.organization_id.to_string()
        }
        async fn view(gate: RequireFeature<ViewData>) -> String {
            gate.organization_id.to_string()
        }
        let router = Router::new()
            .route("/send", get(send))
            .route("/view", get(view))
            .route("/orgs/{organization_id}/send", get(send))
            .with_state(state);
        Fixture {
            router,
            checks,
            orgs,
        }
    }

    async fn call(router: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String, Value) {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, content_type, body)
    }

    #[tokio::test]
    async fn an_allowed_feature_passes_through_with_the_callers_organization() {
        let f = fixture(vec![(Some(SubscriptionStatus::Active), vec![])], false);
        let (status, _, body) = call(&f.router, "/send", Some("key-0")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, Value::String(f.orgs[0].to_string()));
        assert_eq!(f.checks.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_denied_feature_is_402_with_every_reason() {
        let f = fixture(
            vec![(
                Some(SubscriptionStatus::PastDue),
                vec![
                    block(BlockSource::Billing, "payment failed"),
                    block(BlockSource::Admin, "fraud review"),
                ],
            )],
            false,
        );
        let (status, content_type, body) = call(&f.router, "/send", Some("key-0")).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(content_type, PROBLEM_CONTENT_TYPE);
        assert_eq!(
            body,
            json!({
                "type": "urn:problem-type:feature-not-allowed",
                "title": "Feature not allowed",
                "status": 402,
                "code": "FEATURE_NOT_ALLOWED",
                "detail": "send_messages is not allowed: SUBSCRIPTION_INACTIVE, ACCESS_BLOCKED, ACCESS_BLOCKED",
                "feature": "send_messages",
                "subscription_status": "past_due",
                "reasons": [
                    {"code": "SUBSCRIPTION_INACTIVE"},
                    {"code": "ACCESS_BLOCKED", "source": "billing", "reason": "payment failed"},
                    {"code": "ACCESS_BLOCKED", "source": "admin", "reason": "fraud review"},
                ],
            })
        );
    }

    #[tokio::test]
    async fn without_a_subscription_the_status_is_null() {
        let f = fixture(vec![(None, vec![])], false);
        let (status, _, body) = call(&f.router, "/send", Some("key-0")).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(body["subscription_status"], Value::Null);
        assert!(
            body.as_object()
                .unwrap()
                .contains_key("subscription_status")
        );
        assert_eq!(body["reasons"], json!([{"code": "NO_SUBSCRIPTION"}]));
        // Reading data needs no subscription (G6).
        let (status, _, _) = call(&f.router, "/view", Some("key-0")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_credential_is_checked_first_and_costs_no_lookup() {
        let f = fixture(vec![(None, vec![])], false);
        for token in [None, Some("key-7"), Some("not a token")] {
            let (status, content_type, body) = call(&f.router, "/send", token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(content_type, PROBLEM_CONTENT_TYPE);
            assert_eq!(body["code"], "UNAUTHORIZED");
        }
        assert_eq!(f.checks.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_organization_comes_from_the_path_when_the_route_names_one() {
        let f = fixture(
            vec![
                (Some(SubscriptionStatus::Active), vec![]),
                (Some(SubscriptionStatus::Suspended), vec![]),
            ],
            false,
        );
        let (active, suspended) = (f.orgs[0], f.orgs[1]);
        // The admin may act on any organization named in the path, and is gated like it.
        let (status, _, body) = call(&f.router, &format!("/orgs/{active}/send"), Some(ADMIN)).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, Value::String(active.to_string()))
        );
        let (status, _, body) =
            call(&f.router, &format!("/orgs/{suspended}/send"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(body["subscription_status"], "suspended");
        // A key reaches only its own organization; another one is a plain 404, unchecked.
        let checks = f.checks.load(Ordering::SeqCst);
        let (status, _, body) =
            call(&f.router, &format!("/orgs/{active}/send"), Some("key-1")).await;
        assert_eq!(
            (status, &body["code"]),
            (StatusCode::NOT_FOUND, &json!("NOT_FOUND"))
        );
        let (status, _, _) = call(&f.router, "/orgs/not-a-uuid/send", Some(ADMIN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(f.checks.load(Ordering::SeqCst), checks);
        let (status, _, _) = call(&f.router, &format!("/orgs/{active}/send"), Some("key-0")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_admin_needs_a_path_organization() {
        let f = fixture(vec![(Some(SubscriptionStatus::Active), vec![])], false);
        let (status, _, body) = call(&f.router, "/send", Some(ADMIN)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["code"], "ORGANIZATION_KEY_REQUIRED");
        assert_eq!(f.checks.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failing_check_is_its_own_error_never_an_allowance() {
        let f = fixture(vec![(Some(SubscriptionStatus::Active), vec![])], true);
        let (status, _, body) = call(&f.router, "/send", Some("key-0")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    }

    #[test]
    fn every_feature_has_a_marker() {
        assert_eq!(features::MARKED, Feature::ALL.as_slice());
    }

    #[test]
    fn denial_reasons_carry_source_and_reason_only_for_blocks() {
        let body = |reason: &DenialReason| serde_json::to_value(DenialReasonBody::from(reason));
        assert_eq!(
            body(&DenialReason::Status {
                status: SubscriptionStatus::Paused
            })
            .unwrap(),
            json!({"code": "SUBSCRIPTION_INACTIVE"})
        );
        assert_eq!(
            body(&DenialReason::Blocked {
                source: BlockSource::Customer,
                reason: "paused by the customer".into()
            })
            .unwrap(),
            json!({"code": "ACCESS_BLOCKED", "source": "customer", "reason": "paused by the customer"})
        );
    }
}
