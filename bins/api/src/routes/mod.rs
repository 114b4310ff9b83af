//! The router and the OpenAPI document, both built from the same handler list so they cannot
//! drift apart: a handler registered with `routes!` is served and documented at once.

mod api_keys;
mod health;
mod organizations;

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Billing-safety API",
        description = "Organizations, API keys and (soon) wallets. Errors are \
                       `application/problem+json` documents with a stable `code`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "organizations", description = "Tenants"),
        (name = "api-keys", description = "Organization credentials"),
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
        .routes(routes!(organizations::create_organization))
        .routes(routes!(organizations::get_organization))
        .routes(routes!(api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}

/// The complete application router: routes, `/openapi.json`, 404/405 problems, the body limit
/// and request logging.
pub fn router(state: AppState, body_limit_bytes: usize) -> Router {
    let (routes, openapi) = documented_routes().split_for_parts();
    let routes = routes.route(
        "/openapi.json",
        get(move || {
            let openapi = openapi.clone();
            async move { Json(openapi) }
        }),
    );
    httpkit::server::finish(routes, body_limit_bytes).with_state(state)
}
