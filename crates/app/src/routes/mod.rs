//! The router and the OpenAPI document, both built from the same handler list so they cannot
//! drift apart: a handler registered with `routes!` is served and documented at once.

pub(crate) mod admin;
pub(crate) mod admin_campaigns;
pub(crate) mod admin_health;
pub(crate) mod admin_outbox;
pub(crate) mod admin_subscriptions;
pub(crate) mod admin_webhooks;
pub(crate) mod api_keys;
pub(crate) mod brands;
pub(crate) mod campaign_life;
pub(crate) mod campaigns;
pub(crate) mod customer_subscription;
pub(crate) mod eligibility;
pub(crate) mod health;
pub(crate) mod holds;
pub(crate) mod movements;
pub(crate) mod organizations;
pub(crate) mod query;
pub(crate) mod recipients;
pub(crate) mod responses;
pub(crate) mod subscription;
pub(crate) mod top_ups;
pub(crate) mod wallet;

use std::sync::Arc;

use axum::{Json, Router, middleware, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, rate_limit};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Billing-safety API",
        description = "Organizations, API keys, prepaid wallets, subscriptions and \
                       entitlements, brands and campaigns. Amounts are exact decimal strings \
                       with a `currency`. Errors are `application/problem+json` documents with \
                       a stable `code`. Request bodies are JSON objects (anything else is 422 \
                       `BODY_NOT_OBJECT`). A query parameter is either absent (its default) or \
                       has a valid value: an empty one (`?cursor=`) is refused with the \
                       parameter's own code. POSTs that move money need a reference: the \
                       `Idempotency-Key` header or the body's `reference`, one of them required \
                       (both: they must be equal, else 422 `REFERENCE_MISMATCH`; neither: 422 \
                       `IDEMPOTENCY_KEY_REQUIRED`); a retry with the same reference and \
                       parameters answers 200 with the original result and \
                       `Idempotent-Replayed: true`. A 503 carries `Retry-After`: retry, with the \
                       same reference. Each organization API key has a request budget: once \
                       it is spent, 429 `RATE_LIMITED` with `Retry-After` (nothing was done)."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness probes, metrics"),
        (name = "organizations", description = "Tenants"),
        (name = "api-keys", description = "Organization credentials"),
        (name = "wallet", description = "The organization's prepaid wallet"),
        (name = "holds", description = "Reserved wallet funds"),
        (name = "subscription", description = "The caller's own subscription"),
        (name = "brands", description = "Who an organization sends as, with its Twilio \
            subaccount"),
        (name = "campaigns", description = "Campaigns paid from wallet holds, their \
            recipients, and send eligibility"),
        (name = "entitlements", description = "What the caller's subscription allows"),
        (name = "admin", description = "Operations across all organizations: reconciliation, \
            holds, subscriptions, access blocks, the outbox, the webhook inbox, unconfirmed \
            campaign recipients"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the handlers' `security(("bearer" = []))` refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The admin token, or an organization API key (`bsk_...`).",
                ))
                .build(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

/// Every documented route. Add a handler here (one `routes!` per path; handlers of the same
/// path may share one) after annotating it with `#[utoipa::path]`.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(organizations::create_organization))
        .routes(routes!(organizations::get_organization))
        .routes(routes!(organizations::set_billing_email))
        .routes(routes!(api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(wallet::get_wallet))
        .routes(routes!(wallet::list_entries))
        .routes(routes!(movements::debit))
        .routes(routes!(movements::credit))
        .routes(routes!(movements::correct))
        .routes(routes!(holds::create_hold))
        .routes(routes!(holds::get_hold))
        .routes(routes!(holds::capture))
        .routes(routes!(holds::release))
        .routes(routes!(wallet::freeze))
        .routes(routes!(wallet::unfreeze))
        .routes(routes!(wallet::reconcile_wallet))
        .routes(routes!(top_ups::create_top_up))
        .routes(routes!(top_ups::get_top_up))
        .routes(routes!(admin::reconcile_all))
        .routes(routes!(admin::expire_holds))
        .routes(routes!(admin_health::health_report))
        .routes(routes!(
            subscription::get_subscription,
            customer_subscription::start_subscription
        ))
        .routes(routes!(customer_subscription::cancel_subscription))
        .routes(routes!(customer_subscription::pause_subscription))
        .routes(routes!(customer_subscription::resume_subscription))
        .routes(routes!(customer_subscription::payment_method_link))
        .routes(routes!(subscription::subscription_history))
        .routes(routes!(subscription::list_entitlements))
        .routes(routes!(subscription::get_entitlement))
        .routes(routes!(
            admin_subscriptions::admin_get_subscription,
            customer_subscription::admin_start_subscription
        ))
        .routes(routes!(customer_subscription::admin_cancel_subscription))
        .routes(routes!(customer_subscription::admin_pause_subscription))
        .routes(routes!(customer_subscription::admin_resume_subscription))
        .routes(routes!(customer_subscription::admin_payment_method_link))
        .routes(routes!(admin_subscriptions::admin_subscription_history))
        .routes(routes!(admin_subscriptions::admin_subscription_events))
        .routes(routes!(admin_subscriptions::admin_entitlements))
        .routes(routes!(admin_subscriptions::create_subscription))
        .routes(routes!(
            admin_subscriptions::list_access_blocks,
            admin_subscriptions::block_access
        ))
        .routes(routes!(admin_subscriptions::lift_access_block))
        .routes(routes!(admin_subscriptions::record_manual_payment))
        .routes(routes!(admin_outbox::list_outbox_messages))
        .routes(routes!(admin_outbox::outbox_counts))
        .routes(routes!(admin_outbox::get_outbox_message))
        .routes(routes!(admin_outbox::retry_outbox_message))
        .routes(routes!(admin_webhooks::list_webhook_events))
        .routes(routes!(admin_webhooks::webhook_event_counts))
        .routes(routes!(admin_webhooks::get_webhook_event))
        .routes(routes!(admin_webhooks::reapply_webhook_event))
        .routes(routes!(brands::create_brand, brands::list_brands))
        .routes(routes!(brands::get_brand))
        .routes(routes!(
            campaigns::create_campaign,
            campaigns::list_campaigns
        ))
        .routes(routes!(campaigns::get_campaign))
        .routes(routes!(
            recipients::add_recipients,
            recipients::list_recipients
        ))
        .routes(routes!(campaign_life::start_campaign))
        .routes(routes!(campaign_life::pause_campaign))
        .routes(routes!(campaign_life::resume_campaign))
        .routes(routes!(campaign_life::cancel_campaign))
        .routes(routes!(eligibility::send_eligibility))
        .routes(routes!(admin_campaigns::resolve_recipient))
}

/// The webhook routes the development mode serves, one process being the whole system
/// (production: the webhook-receiver). [`DevWebhooks::default`] serves none.
#[derive(Debug, Clone, Default)]
pub struct DevWebhooks {
    /// `POST /webhooks/{provider}` (and the raw bodies the local webhook tool replays).
    pub providers: bool,
    /// `POST /webhooks/twilio/messages`, when Twilio and its callback URL are configured.
    pub twilio: Option<std::sync::Arc<webhooks::TwilioCallbacks>>,
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = documented_routes().split_for_parts().1;
    // After the routes are in: the shared responses go onto their operations.
    responses::SharedResponses.modify(&mut openapi);
    openapi
}

/// The complete application router: routes, `/openapi.json`, 404/405 problems, the body limit,
/// each API key's rate limit (when the state has one) and request logging; with `serve_webhooks` (the development mode, where one process is the
/// whole system) also the webhook receiver's `POST /webhooks/{provider}` and, for replaying
/// those deliveries with the local webhook tool, their raw bodies (admin only, undocumented:
/// production never serves them).
pub fn router(state: AppState, body_limit_bytes: usize, dev_webhooks: DevWebhooks) -> Router {
    let (routes, mut openapi) = documented_routes().split_for_parts();
    responses::SharedResponses.modify(&mut openapi);
    let webhook_state = webhooks::WebhookState {
        pool: state.pool.clone(),
        intake: state.intake.clone(),
    };
    let twilio_state = webhooks::TwilioState {
        pool: state.pool.clone(),
        campaigns: state.campaigns.clone(),
        callbacks: dev_webhooks.twilio,
    };
    let body_route = get(admin_webhooks::webhook_event_body).with_state(state.clone());
    // Before the routes below: `/openapi.json` and the webhook routes carry no organization key.
    let routes = match &state.rate_limiter {
        Some(limiter) => routes.route_layer(middleware::from_fn_with_state(
            rate_limit::RateLimitState {
                auth: state.auth.clone(),
                limiter: Arc::clone(limiter),
            },
            rate_limit::enforce,
        )),
        None => routes,
    };
    let routes = routes
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi) }
            }),
        )
        .with_state(state.clone());
    // The console sends its actions through the API's own routes.
    let mut routes = routes.clone().merge(crate::console::router(state, routes));
    if dev_webhooks.providers {
        routes = routes
            .merge(webhooks::routes(webhook_state))
            .route("/v1/admin/webhook-events/{event_id}/body", body_route);
    }
    if twilio_state.callbacks.is_some() {
        routes = routes.merge(webhooks::twilio_routes(twilio_state));
    }
    httpkit::server::finish(routes, body_limit_bytes)
}
