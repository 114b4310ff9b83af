//! Signing in and out: a customer with one of the organization's API keys, an operator with the
//! admin token and their name. The credential is checked exactly as the API checks a bearer
//! token; what the browser keeps is a session cookie, never the credential.

use std::time::Duration;

use askama::Template;
use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header};
use httpkit::Principal;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::AppState;

use super::{
    forms::{Posted, SignInPost},
    history::{self, Action, Entry},
    page::{self, Area, ConsoleError, Frame, Notice},
    session::{self, AnySession, OperatorName, Session, Signed},
};

/// The double-submit cookie of the sign-in forms; it lives only while a form is open.
const SIGN_IN_COOKIE: &str = "console_sign_in";
const SIGN_IN_COOKIE_LIFETIME: Duration = Duration::from_secs(3600);

/// Which sign-in form a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Customer,
    Operator,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    frame: Frame,
    operator: bool,
    action: &'static str,
}

/// `GET /console`: the signed-in person's first page, or the customer sign-in.
pub async fn home(AnySession(session): AnySession) -> Redirect {
    match session.map(|s| s.signed) {
        Some(Signed::Customer { .. }) => Redirect::to("/console/wallet"),
        Some(Signed::Operator(_)) => Redirect::to("/console/operator"),
        None => Redirect::to(page::CUSTOMER_SIGN_IN),
    }
}

pub async fn customer_form(State(state): State<AppState>) -> Response {
    form(&state, Door::Customer, StatusCode::OK, None)
}

pub async fn operator_form(State(state): State<AppState>) -> Response {
    form(&state, Door::Operator, StatusCode::OK, None)
}

/// The sign-in form with a fresh double-submit token in both the cookie and the form.
fn form(state: &AppState, door: Door, status: StatusCode, refusal: Option<&str>) -> Response {
    let token = session::random_text();
    let (title, action) = match door {
        Door::Customer => ("Sign in", page::CUSTOMER_SIGN_IN),
        Door::Operator => ("Operator sign-in", page::OPERATOR_SIGN_IN),
    };
    let mut frame = Frame::new(Area::Public, title, "", &token);
    frame.notice = refusal.map(|text| Notice {
        kind: "problem",
        text: text.to_owned(),
    });
    let mut response = page::render_with(
        status,
        &SignInPage {
            frame,
            operator: door == Door::Operator,
            action,
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            &state.console,
            SIGN_IN_COOKIE,
            &token,
            SIGN_IN_COOKIE_LIFETIME,
        ),
    );
    response
}

/// Whether the form's token is the one its cookie was set with (login CSRF).
fn double_submitted(headers: &HeaderMap, submitted: &str) -> bool {
    session::cookie(headers, SIGN_IN_COOKIE).is_some_and(|cookie| {
        cookie.len() == submitted.len() && bool::from(cookie.as_bytes().ct_eq(submitted.as_bytes()))
    })
}

#[derive(Deserialize)]
pub struct CustomerSignIn {
    #[serde(default)]
    api_key: String,
}

#[derive(Deserialize)]
pub struct OperatorSignIn {
    #[serde(default)]
    operator: String,
    #[serde(default)]
    admin_token: String,
}

pub async fn customer_sign_in(
    State(state): State<AppState>,
    post: SignInPost<CustomerSignIn>,
) -> Result<Response, ConsoleError> {
    if !double_submitted(&post.headers, &post.csrf) {
        return Err(ConsoleError::forged());
    }
    let key = post.form.api_key.trim();
    // The admin token is not an organization's key: resolving only keys keeps it that way.
    let principal = if state.auth.is_admin_token(key) {
        None
    } else {
        state
            .auth
            .resolve(key)
            .await
            .map_err(httpkit::ApiError::from)?
    };
    let Some(Principal::Organization {
        organization_id,
        key_id,
    }) = principal
    else {
        refused(Door::Customer);
        return Ok(form(
            &state,
            Door::Customer,
            StatusCode::UNAUTHORIZED,
            Some("That API key was not accepted (UNAUTHORIZED)."),
        ));
    };
    let signed = Signed::Customer {
        organization_id,
        key_id,
    };
    start(&state, &post.headers, &signed, None, "/console/wallet").await
}

pub async fn operator_sign_in(
    State(state): State<AppState>,
    post: SignInPost<OperatorSignIn>,
) -> Result<Response, ConsoleError> {
    if !double_submitted(&post.headers, &post.csrf) {
        return Err(ConsoleError::forged());
    }
    let Some(operator) = OperatorName::parse(&post.form.operator) else {
        return Ok(form(
            &state,
            Door::Operator,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(
                "Give your name (1 to 64 characters): it is recorded on every action (INVALID_OPERATOR).",
            ),
        ));
    };
    if !state.auth.is_admin_token(post.form.admin_token.trim()) {
        refused(Door::Operator);
        return Ok(form(
            &state,
            Door::Operator,
            StatusCode::UNAUTHORIZED,
            Some("That admin token was not accepted (UNAUTHORIZED)."),
        ));
    }
    let fingerprint = session::credential_fingerprint(&state);
    let signed = Signed::Operator(operator.clone());
    let response = start(
        &state,
        &post.headers,
        &signed,
        Some(fingerprint),
        "/console/operator",
    )
    .await?;
    signed_in_or_out(&state, &operator, Action::SignIn).await?;
    Ok(response)
}

/// A refused credential: counted and logged (never the credential), for whoever watches for
/// someone guessing.
fn refused(door: Door) {
    let door = match door {
        Door::Customer => "customer",
        Door::Operator => "operator",
    };
    metrics::counter!("console_sign_in_refused_total", "door" => door).increment(1);
    tracing::warn!(door, "console sign-in refused: credential not accepted");
}

/// An operator's sign-in or sign-out, in the history beside their actions.
async fn signed_in_or_out(
    state: &AppState,
    operator: &OperatorName,
    action: Action,
) -> Result<(), ConsoleError> {
    let entry = Entry {
        operator,
        action,
        target: history::CONSOLE.to_owned(),
        reason: None,
    };
    let done = match action {
        Action::SignOut => "signed out",
        _ => "signed in",
    };
    history::record(state, entry, &Ok(done.to_owned())).await?;
    Ok(())
}

/// Opens the session, sets its cookie, drops the sign-in cookie and goes to the first page. A
/// session the browser already had is ended first: signing in always starts a new one.
async fn start(
    state: &AppState,
    request: &HeaderMap,
    signed: &Signed,
    fingerprint: Option<[u8; 32]>,
    first_page: &str,
) -> Result<Response, ConsoleError> {
    let settings = &state.console;
    if let Some(previous) = session::cookie(request, session::cookie_name(settings)) {
        session::end(state, previous).await?;
    }
    let (token, _) = session::open(state, signed, fingerprint).await?;
    let mut response = Redirect::to(first_page).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(
            settings,
            session::cookie_name(settings),
            token.expose(),
            settings.session_lifetime,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(settings, SIGN_IN_COOKIE, "", Duration::ZERO),
    );
    Ok(response)
}

/// Any signed-in session, for signing out.
#[derive(Debug)]
pub struct Someone(Session);

impl axum::extract::FromRequestParts<AppState> for Someone {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnySession(session) = AnySession::from_request_parts(parts, state).await?;
        session
            .map(Self)
            .ok_or_else(|| ConsoleError::SignIn(Redirect::to(page::CUSTOMER_SIGN_IN)))
    }
}

impl session::HasSession for Someone {
    fn session(&self) -> &Session {
        &self.0
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /console/sign-out`: ends the session everywhere and deletes the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    post: Posted<Someone, Nothing>,
) -> Result<Response, ConsoleError> {
    let settings = &state.console;
    let name = session::cookie_name(settings);
    if let Some(token) = session::cookie(&headers, name) {
        session::end(&state, token).await?;
    }
    let to = match &post.session.0.signed {
        Signed::Customer { .. } => page::CUSTOMER_SIGN_IN,
        Signed::Operator(operator) => {
            signed_in_or_out(&state, operator, Action::SignOut).await?;
            page::OPERATOR_SIGN_IN
        }
    };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(settings, name, "", Duration::ZERO),
    );
    Ok(response)
}
