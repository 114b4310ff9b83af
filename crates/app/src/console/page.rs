//! What every console page shares: the frame around it ([`Frame`]: navigation, who is signed in,
//! the CSRF token, the outcome of the last action), rendering a template into a response, and
//! the console's error page.

use std::time::Duration;

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use httpkit::ApiError;
use serde::Deserialize;

use crate::AppError;

use super::dispatch::Refusal;

pub const CUSTOMER_SIGN_IN: &str = "/console/sign-in";
pub const OPERATOR_SIGN_IN: &str = "/console/operator/sign-in";

/// Which part of the console a page belongs to, deciding its navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Not signed in: the sign-in pages.
    Public,
    Customer,
    Operator,
}

/// One link of the navigation bar.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

const CUSTOMER_NAV: [(&str, &str); 3] = [
    ("/console/wallet", "Wallet"),
    ("/console/campaigns", "Campaigns"),
    ("/console/subscription", "Subscription"),
];

const OPERATOR_NAV: [(&str, &str); 5] = [
    ("/console/operator", "Health"),
    ("/console/operator/inbox", "Webhook inbox"),
    ("/console/operator/outbox", "Outbox"),
    ("/console/operator/organizations", "Organizations"),
    ("/console/operator/history", "History"),
];

/// The frame every page is drawn in.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    pub area: Area,
    pub nav: Vec<NavLink>,
    /// Who is signed in, as shown in the header (an organization id or an operator's name).
    pub who: Option<String>,
    /// The session's CSRF token, for the forms of the page (sign-out included).
    pub csrf: String,
    pub notice: Option<Notice>,
}

impl Frame {
    /// `current` is the navigation link this page sits under.
    pub fn new(area: Area, title: impl Into<String>, current: &str, csrf: &str) -> Self {
        let links: &[(&'static str, &'static str)] = match area {
            Area::Public => &[],
            Area::Customer => &CUSTOMER_NAV,
            Area::Operator => &OPERATOR_NAV,
        };
        Self {
            title: title.into(),
            area,
            nav: links
                .iter()
                .map(|&(href, label)| NavLink {
                    href,
                    label,
                    current: href == current,
                })
                .collect(),
            who: None,
            csrf: csrf.to_owned(),
            notice: None,
        }
    }

    #[must_use]
    pub fn who(mut self, who: impl Into<String>) -> Self {
        self.who = Some(who.into());
        self
    }

    /// Shows the outcome of the action that redirected here, if any.
    #[must_use]
    pub fn notice(mut self, outcome: &Outcome) -> Self {
        self.notice = outcome.notice();
        self
    }
}

/// A message above the page's content.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `ok` or `problem`: the style, and what tests look for.
    pub kind: &'static str,
    pub text: String,
}

/// The outcome of an action, carried in the query of the page the action redirects to
/// (post/redirect/get): `?done=<what>` or `?refused=<CODE>`. Only shown, never trusted: a made-up
/// value shows a made-up message and changes nothing.
#[derive(Debug, Default, Deserialize)]
pub struct Outcome {
    pub done: Option<String>,
    pub refused: Option<String>,
}

impl Outcome {
    fn notice(&self) -> Option<Notice> {
        let clip = |text: &str| text.chars().take(120).collect::<String>();
        if let Some(code) = &self.refused {
            return Some(Notice {
                kind: "problem",
                text: format!("Refused: {}", clip(code)),
            });
        }
        self.done.as_ref().map(|done| Notice {
            kind: "ok",
            text: format!("Done: {}", clip(done)),
        })
    }
}

/// Renders a page; a template that fails to render is a 500 (it cannot, short of a bug).
pub fn render<T: Template>(template: &T) -> Response {
    render_with(StatusCode::OK, template)
}

pub fn render_with<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => {
            tracing::error!(%error, "a console page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// Console pages show one organization's money: never kept by a browser or proxy cache.
fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Where an action goes back to, with its outcome.
pub fn back_to(page: &str, result: Result<String, Refusal>) -> Redirect {
    let separator = if page.contains('?') { '&' } else { '?' };
    match result {
        Ok(done) => Redirect::to(&format!("{page}{separator}done={}", url_component(&done))),
        Err(problem) => Redirect::to(&format!(
            "{page}{separator}refused={}",
            url_component(&problem.code)
        )),
    }
}

/// A fresh idempotency key for an action form, fixed when its page is drawn: submitting the same
/// form twice repeats it, so the API answers the second from the first instead of acting twice.
pub fn action_key() -> String {
    format!("console-{}", uuid::Uuid::now_v7())
}

/// Times as the pages show them: to the second, in UTC.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A serialized enum's wire name (`"failed"`), as the API writes it.
pub fn wire_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The console's error page: the problem's status, code and explanation, as the API would
/// answer them.
#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage {
    frame: Frame,
    status: u16,
    code: String,
    title: String,
    detail: Option<String>,
}

/// Why a console request did not get its page.
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session of the kind the page needs: to the sign-in page.
    SignIn(Redirect),
    /// The key's request budget is spent (the same budget as its API calls).
    RateLimited(Duration),
    /// Refused or failed, with the API's problem.
    Problem(ApiError),
}

impl ConsoleError {
    /// A form post without this session's CSRF token, or from another site.
    pub fn forged() -> Self {
        Self::Problem(ApiError::new(
            StatusCode::FORBIDDEN,
            "CSRF_REFUSED",
            "The form was not sent from this console",
        ))
    }
}

impl From<AppError> for ConsoleError {
    fn from(error: AppError) -> Self {
        Self::Problem(error.into())
    }
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        Self::Problem(error)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::SignIn(redirect) => return redirect.into_response(),
            Self::RateLimited(wait) => ApiError::rate_limited(wait),
            Self::Problem(problem) => problem,
        };
        if problem.status().is_server_error() {
            tracing::warn!(code = problem.code(), "console page failed");
        }
        let page = ProblemPage {
            frame: Frame::new(Area::Public, problem.title().to_owned(), "", ""),
            status: problem.status().as_u16(),
            code: problem.code().to_owned(),
            title: problem.title().to_owned(),
            detail: problem.detail().map(str::to_owned),
        };
        render_with(problem.status(), &page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_back_as_notices_and_are_clipped() {
        let refused = Outcome {
            done: Some("x".into()),
            refused: Some("WALLET_FROZEN".into()),
        };
        assert_eq!(refused.notice().unwrap().kind, "problem");
        let done = Outcome {
            done: Some("y".repeat(500)),
            refused: None,
        };
        assert_eq!(done.notice().unwrap().text.chars().count(), 6 + 120);
        assert!(Outcome::default().notice().is_none());
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(url_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_component("Ok-1_2.3~"), "Ok-1_2.3~");
    }
}
