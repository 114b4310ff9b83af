//! `GET /console/subscription`: the subscription (status, plan, period), the dunning timeline
//! (failed payments, the retries to come, the day of suspension), the payment-method link and
//! wallet top-ups. Both actions go through the API.
//!
//! The console's policy lets forms post only to itself (`form-action 'self'`), which browsers
//! also apply to a redirect after a post: a provider's page is therefore shown as a link the
//! customer follows, never redirected to.

use askama::Template;
use axum::{
    Extension,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, StatusCode, header};
use httpkit::{ApiError, ApiJson, ApiPath, ApiQuery, OrganizationOnly};
use primitives::ProviderName;
use serde::Deserialize;
use subscriptions::{
    DunningEpisode, DunningSchedule, EventKind, SubscriptionStatus, dunning::StepAction,
};

use crate::{
    AppState,
    access::WalletCaller,
    routes::{
        subscription::{get_subscription, subscription_history},
        top_ups::get_top_up,
        wallet::get_wallet,
    },
    wire::{
        customer::{
            PaymentMethodLinkRequest, PaymentMethodLinkResponse, TopUpCreatedResponse, TopUpRequest,
        },
        subscriptions::{PageParams, SubscriptionResponse, TransitionView},
    },
};

use super::{SUBSCRIPTION, day, form_key, frame, is, principal, query};
use crate::console::{
    dispatch::{Api, Call, Refusal},
    forms::Posted,
    page::{self, ConsoleError, Frame, Outcome, back_to},
    session::CustomerSession,
};

/// The events that record a payment that did not come in.
const FAILURES: [EventKind; 3] = [
    EventKind::PaymentFailed,
    EventKind::RenewalMissed,
    EventKind::RetryFailed,
];

#[derive(Template)]
#[template(path = "console/customer_subscription.html")]
struct PanelPage {
    frame: Frame,
    subscription: Option<SubscriptionCard>,
    /// The providers configured here with API credentials, by name.
    providers: Vec<&'static str>,
    /// `None`: no wallet to top up.
    top_up: Option<TopUpOffer>,
    /// The top-up just started (`?top_up=<id>`), read back from the API.
    started: Option<StartedTopUp>,
    link_key: String,
    top_up_key: String,
}

struct SubscriptionCard {
    status: String,
    /// `ok`, `warn` or `bad`: the badge's style.
    tone: &'static str,
    plan: String,
    provider: Option<String>,
    period_end: Option<String>,
    trial_end: Option<String>,
    cancel_at_period_end: bool,
    /// Empty when no payment is being chased.
    timeline: Vec<Step>,
    /// Why the payment method cannot be changed here, if it cannot.
    link_unavailable: Option<String>,
}

/// One point of the dunning timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    /// `past` (it happened), `next` (the next thing the schedule does) or `later`.
    class: &'static str,
    when: String,
    text: String,
}

struct TopUpOffer {
    currency: String,
    limits: Option<String>,
}

struct StartedTopUp {
    id: String,
    status: String,
    amount: String,
    /// The provider's checkout page, when it is a plain link.
    approval_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PanelQuery {
    top_up: Option<String>,
}

pub async fn panel(
    State(state): State<AppState>,
    session: CustomerSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let outcome: Outcome = query(raw.as_deref());
    let PanelQuery { top_up } = query(raw.as_deref());
    let providers = configured(&state);
    let own = OrganizationOnly {
        organization_id: session.organization_id,
        key_id: session.key_id,
    };
    let subscription = match get_subscription(State(state.clone()), own).await {
        Ok(ApiJson(subscription)) => {
            let params = PageParams {
                limit: Some(subscriptions::history::MAX_PAGE.to_string()),
            };
            let ApiJson(history) =
                subscription_history(State(state.clone()), own, ApiQuery(params)).await?;
            let schedule = state.subscriptions.policy().dunning();
            Some(card(
                subscription,
                &history.transitions,
                schedule,
                &providers,
            ))
        }
        Err(error) => {
            let error = ApiError::from(error);
            if !is(&error, crate::error::subscription_not_found) {
                return Err(error.into());
            }
            None
        }
    };
    let caller = WalletCaller {
        organization_id: session.organization_id,
        principal: principal(&session),
    };
    let top_up_offer = match get_wallet(State(state.clone()), caller).await {
        Ok(ApiJson(wallet)) => Some(offer(&state, &wallet.currency)),
        Err(error) => {
            let error = ApiError::from(error);
            if !is(&error, crate::error::wallet_not_found) {
                return Err(error.into());
            }
            None
        }
    };
    let started = match top_up.and_then(|id| id.parse::<uuid::Uuid>().ok()) {
        // Read back from the API, scoped to the organization: an id in the query is only a
        // pointer, and another organization's top-up is not found.
        Some(id) => get_top_up(
            State(state.clone()),
            caller,
            ApiPath((session.organization_id, id)),
        )
        .await
        .ok()
        .map(|ApiJson(top_up)| StartedTopUp {
            id: top_up.id.to_string(),
            status: top_up.status,
            amount: super::money(&top_up.amount, &top_up.currency),
            approval_url: top_up
                .approval
                .form
                .is_none()
                .then_some(top_up.approval.url)
                .flatten()
                .filter(|url| web_link(url)),
        }),
        None => None,
    };
    Ok(page::render(&PanelPage {
        frame: frame(&session, "Subscription", SUBSCRIPTION, &outcome),
        subscription,
        providers,
        top_up: top_up_offer,
        started,
        link_key: page::action_key(),
        top_up_key: page::action_key(),
    }))
}

/// The providers the API can call here (configured with API credentials, not only to verify
/// webhooks).
fn configured(state: &AppState) -> Vec<&'static str> {
    let providers = state.intake.providers();
    ProviderName::ALL
        .into_iter()
        .filter(|name| providers.has_api(*name))
        .map(ProviderName::as_str)
        .collect()
}

fn offer(state: &AppState, currency: &str) -> TopUpOffer {
    let limits = primitives::parse_currency(currency)
        .ok()
        .and_then(|code| state.customer.config().top_up_limits.range(code))
        .map(|(min, max)| format!("from {min} to {max}"));
    TopUpOffer {
        currency: currency.to_owned(),
        limits,
    }
}

fn card(
    subscription: SubscriptionResponse,
    transitions: &[TransitionView],
    schedule: &DunningSchedule,
    providers: &[&str],
) -> SubscriptionCard {
    let status = SubscriptionStatus::parse(&subscription.status);
    let tone = match subscription.status.as_str() {
        "active" | "trialing" => "ok",
        "pending" | "past_due" | "paused" => "warn",
        _ => "bad",
    };
    let timeline = match &subscription.dunning {
        Some(dunning) => {
            let episode = DunningEpisode {
                started_at: dunning.started_at,
                retries_failed: dunning.retries_failed,
            };
            let failures: Vec<(DateTime<Utc>, String)> = transitions
                .iter()
                .filter(|t| {
                    EventKind::parse(&t.event).is_some_and(|kind| FAILURES.contains(&kind))
                        && t.occurred_at >= episode.started_at
                })
                .map(|t| (t.occurred_at, t.event.clone()))
                .collect();
            timeline(&episode, failures, schedule)
        }
        None => Vec::new(),
    };
    let provider = subscription.provider.as_ref().map(|p| p.name.clone());
    let link_unavailable = match (&provider, status) {
        (_, Some(status)) if status.is_terminal() => {
            Some("The subscription has ended: start a new one to pay again.".to_owned())
        }
        (None, _) => {
            Some("This subscription is billed by hand, not through a provider.".to_owned())
        }
        (Some(name), _) if !providers.contains(&name.as_str()) => Some(format!(
            "Its provider, {name}, is not configured on this server."
        )),
        _ => None,
    };
    SubscriptionCard {
        status: subscription.status,
        tone,
        plan: subscription.plan,
        provider,
        period_end: subscription.current_period_end.map(page::time),
        trial_end: subscription.trial_end.map(page::time),
        cancel_at_period_end: subscription.cancel_at_period_end,
        timeline,
        link_unavailable,
    }
}

/// The episode on the schedule: the failed payments (oldest first), then each step still to
/// come, the first of them marked next, ending with the day of suspension.
fn timeline(
    episode: &DunningEpisode,
    mut failures: Vec<(DateTime<Utc>, String)>,
    schedule: &DunningSchedule,
) -> Vec<Step> {
    failures.sort_by_key(|(at, _)| *at);
    let mut steps: Vec<Step> = failures
        .into_iter()
        .map(|(at, event)| Step {
            class: "past",
            when: page::time(at),
            text: format!("Payment failed ({})", event.replace('_', " ")),
        })
        .collect();
    if steps.is_empty() {
        steps.push(Step {
            class: "past",
            when: page::time(episode.started_at),
            text: "Payment overdue".to_owned(),
        });
    }
    let retries = schedule.retries();
    let done = usize::try_from(episode.retries_failed).unwrap_or(usize::MAX);
    for (index, step) in schedule.steps().iter().enumerate().skip(done) {
        let at = episode.started_at + Duration::days(i64::from(step.day));
        let text = match step.action {
            StepAction::Retry => format!("Retry {} of {retries}", index + 1),
            StepAction::Suspend => {
                "Suspension: sending stops until the payment comes in".to_owned()
            }
        };
        steps.push(Step {
            class: if index == done { "next" } else { "later" },
            when: format!("{} (day {})", day(at), step.day),
            text,
        });
    }
    steps
}

/// Only plain web links are shown as links.
fn web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Where the provider sends the customer back: this page, at `CONSOLE_PUBLIC_URL`, or else on
/// the host the browser reached.
fn return_url(state: &AppState, headers: &HeaderMap) -> Result<String, Refusal> {
    if let Some(public) = &state.console.public_url {
        return Ok(format!("{public}{SUBSCRIPTION}"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .ok_or_else(|| {
            Refusal::here(
                "FORM_INVALID",
                "the request named no valid host to come back to",
            )
        })?;
    let scheme = if state.console.secure_cookies {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}{SUBSCRIPTION}"))
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Template)]
#[template(path = "console/customer_link.html")]
struct LinkPage {
    frame: Frame,
    provider: String,
    url: String,
}

/// `POST /console/subscription/payment-method`: the API's payment-method link, shown as a link
/// to follow (a retry of the form answers the same link).
pub async fn payment_method(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    headers: HeaderMap,
    Posted { session, form }: Posted<CustomerSession, LinkForm>,
) -> Result<Response, ConsoleError> {
    let sent = async {
        let key = form_key(&form.idempotency_key)?;
        let request = PaymentMethodLinkRequest {
            return_url: return_url(&state, &headers)?,
        };
        Call::post("/v1/subscription/payment-method", &session)
            .idempotency_key(key)
            .json(&request)
            .send_as(&api)
            .await
    };
    let answer: PaymentMethodLinkResponse = match sent.await {
        Ok(answer) => answer,
        Err(refusal) => return Ok(back_to(SUBSCRIPTION, Err(refusal)).into_response()),
    };
    if !web_link(&answer.url) {
        let refusal = Refusal {
            status: StatusCode::BAD_GATEWAY,
            code: "UNEXPECTED_ANSWER".to_owned(),
            detail: None,
        };
        return Ok(back_to(SUBSCRIPTION, Err(refusal)).into_response());
    }
    let outcome = Outcome {
        done: Some("payment-method link created".to_owned()),
        refused: None,
    };
    Ok(page::render(&LinkPage {
        frame: frame(
            &session,
            "Update your payment method",
            SUBSCRIPTION,
            &outcome,
        ),
        provider: answer.provider,
        url: answer.url,
    }))
}

#[derive(Debug, Deserialize)]
pub struct TopUpForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    provider: String,
}

/// `POST /console/top-ups`: the API's top-up in the wallet's currency; back to the panel, which
/// reads the top-up back and shows where to pay.
pub async fn top_up(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    headers: HeaderMap,
    Posted { session, form }: Posted<CustomerSession, TopUpForm>,
) -> Result<Response, ConsoleError> {
    let caller = WalletCaller {
        organization_id: session.organization_id,
        principal: principal(&session),
    };
    let sent = async {
        let key = form_key(&form.idempotency_key)?;
        let amount = form.amount.trim();
        if amount.is_empty() || amount.len() > 40 {
            return Err(Refusal::here("FORM_INVALID", "give the amount to top up"));
        }
        if form.provider.trim().is_empty() {
            return Err(Refusal::here("FORM_INVALID", "choose a provider"));
        }
        let return_url = return_url(&state, &headers)?;
        let currency = match get_wallet(State(state.clone()), caller).await {
            Ok(ApiJson(wallet)) => wallet.currency,
            Err(error) => {
                let error = ApiError::from(error);
                return Err(Refusal {
                    status: error.status(),
                    code: error.code().to_owned(),
                    detail: None,
                });
            }
        };
        let path = format!(
            "/v1/organizations/{}/wallet/top-ups",
            session.organization_id
        );
        let request = TopUpRequest {
            amount: amount.to_owned(),
            currency,
            provider: form.provider.trim().to_owned(),
            cancel_url: return_url.clone(),
            return_url,
            ..TopUpRequest::default()
        };
        Call::post(path, &session)
            .idempotency_key(key)
            .json(&request)
            .send_as(&api)
            .await
    };
    let redirect = match sent.await {
        Ok(TopUpCreatedResponse { top_up, .. }) => back_to(
            &format!("{SUBSCRIPTION}?top_up={}", top_up.id),
            Ok("top-up started: pay on the provider's page".to_owned()),
        ),
        Err(refusal) => back_to(SUBSCRIPTION, Err(refusal)),
    };
    Ok(redirect.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_timeline_shows_failures_then_what_the_schedule_does_next() {
        let episode = DunningEpisode {
            started_at: at("2026-12-01T09:00:00Z"),
            retries_failed: 1,
        };
        let failures = vec![
            (at("2026-12-04T09:00:00Z"), "retry_failed".to_owned()),
            (at("2026-12-01T09:00:00Z"), "payment_failed".to_owned()),
        ];
        let steps = timeline(&episode, failures, &DunningSchedule::default());
        let classes: Vec<&str> = steps.iter().map(|s| s.class).collect();
        assert_eq!(classes, ["past", "past", "next", "later", "later"]);
        assert_eq!(steps[0].text, "Payment failed (payment failed)");
        assert_eq!(steps[2].text, "Retry 2 of 3");
        assert_eq!(steps[2].when, "2026-12-06 (day 5)");
        assert!(steps[4].text.starts_with("Suspension"));
        assert_eq!(steps[4].when, "2026-12-11 (day 10)");
    }

    #[test]
    fn an_episode_without_a_recorded_failure_still_starts_the_timeline() {
        let episode = DunningEpisode {
            started_at: at("2026-12-01T09:00:00Z"),
            retries_failed: 3,
        };
        let steps = timeline(&episode, Vec::new(), &DunningSchedule::default());
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].text, "Payment overdue");
        assert_eq!(steps[1].class, "next");
        assert!(steps[1].text.starts_with("Suspension"));
    }

    #[test]
    fn only_web_links_are_links() {
        assert!(web_link("https://billing.stripe.com/p/session/x"));
        assert!(!web_link("javascript:alert(1)"));
        assert!(!web_link("data:text/html,x"));
    }
}
