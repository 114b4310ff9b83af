//! Who may touch an organization's wallet, subscription, brands or campaigns: extractors that
//! check access before anything else (in particular before a body is parsed), so a refused
//! caller learns nothing and costs little.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use http::request::Parts;
use httpkit::{AdminOnly, ApiError, ApiPath, Authenticated, Principal};
use ledger::Actor;
use primitives::OrganizationId;
use serde::Deserialize;

use crate::{
    AppState,
    error::{brand_not_found, campaign_not_found, organization_not_found, wallet_not_found},
};

/// The organization named in the path; other path parameters (a hold id) are ignored here.
#[derive(Debug, Deserialize)]
struct OrganizationPath {
    organization_id: OrganizationId,
}

/// A caller allowed to use the wallet of the organization in the path: the admin or one of that
/// organization's keys. Any other organization gets the same 404 `WALLET_NOT_FOUND` as a missing
/// wallet (G11); no credential is a 401.
#[derive(Debug, Clone, Copy)]
pub struct WalletCaller {
    pub organization_id: OrganizationId,
    pub principal: Principal,
}

impl WalletCaller {
    /// Who the ledger records as having acted.
    pub fn actor(&self) -> Actor {
        actor(&self.principal)
    }
}

impl FromRequestParts<AppState> for WalletCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        let ApiPath(OrganizationPath { organization_id }) =
            ApiPath::from_request_parts(parts, state).await?;
        if !principal.may_access(organization_id) {
            return Err(wallet_not_found());
        }
        Ok(Self {
            organization_id,
            principal,
        })
    }
}

/// What a route of an organization reads or changes, which decides what another organization's
/// key is told: exactly what a missing resource of that kind answers (G11).
pub trait ScopedResource: Send + Sync + 'static {
    fn not_found() -> ApiError;
}

/// The organization itself, or a collection of it (`.../brands`, `.../campaigns`,
/// `.../send-eligibility`): 404 `ORGANIZATION_NOT_FOUND`.
#[derive(Debug, Clone, Copy)]
pub struct OrganizationResource;

/// One brand (`.../brands/{brand_id}`): 404 `BRAND_NOT_FOUND`.
#[derive(Debug, Clone, Copy)]
pub struct BrandResource;

/// One campaign or what belongs to it (`.../campaigns/{campaign_id}/...`): 404
/// `CAMPAIGN_NOT_FOUND`.
#[derive(Debug, Clone, Copy)]
pub struct CampaignResource;

impl ScopedResource for OrganizationResource {
    fn not_found() -> ApiError {
        organization_not_found()
    }
}

impl ScopedResource for BrandResource {
    fn not_found() -> ApiError {
        brand_not_found()
    }
}

impl ScopedResource for CampaignResource {
    fn not_found() -> ApiError {
        campaign_not_found()
    }
}

/// A caller allowed to act on the organization in the path: the admin or one of that
/// organization's keys. Any other organization gets the 404 of the resource `R` names, the same
/// as for a missing one (G11); no credential is a 401. Like [`WalletCaller`], for the
/// organization's brands and campaigns.
#[derive(Debug, Clone, Copy)]
pub struct OrgCaller<R = OrganizationResource> {
    pub organization_id: OrganizationId,
    pub principal: Principal,
    _resource: PhantomData<fn() -> R>,
}

impl<R> OrgCaller<R> {
    /// The caller a console session acts as; `None` when the principal may not act on the
    /// organization (the console never builds one for another organization).
    pub(crate) fn for_session(
        organization_id: OrganizationId,
        principal: Principal,
    ) -> Option<Self> {
        principal.may_access(organization_id).then_some(Self {
            organization_id,
            principal,
            _resource: PhantomData,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.principal.is_admin()
    }
}

impl<R: ScopedResource> FromRequestParts<AppState> for OrgCaller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        let ApiPath(OrganizationPath { organization_id }) =
            ApiPath::from_request_parts(parts, state).await?;
        if !principal.may_access(organization_id) {
            return Err(R::not_found());
        }
        Ok(Self {
            organization_id,
            principal,
            _resource: PhantomData,
        })
    }
}

/// In request extensions: the operator a console session acts for, put there by the console
/// when it sends an action through the API in-process (a request from outside cannot carry an
/// extension). What the admin's call writes names them: actor `admin:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActingOperator(pub String);

/// Who an admin call records as having acted: `admin`, or `admin:<name>` for an operator acting
/// through the console.
fn admin_actor(operator: Option<&ActingOperator>) -> String {
    match operator {
        Some(ActingOperator(name)) => format!("admin:{name}"),
        None => "admin".to_owned(),
    }
}

/// The admin, acting on the wallet of the organization in the path: 401 without a valid
/// credential, 403 `ADMIN_REQUIRED` for any organization key (its own organization's too).
#[derive(Debug, Clone)]
pub struct WalletAdmin {
    pub organization_id: OrganizationId,
    /// Who, when the admin's call came from an operator's console session.
    pub operator: Option<ActingOperator>,
}

impl WalletAdmin {
    /// `admin`, or `admin:<name>` for an operator acting through the console.
    pub fn actor(&self) -> Actor {
        Actor::parse(admin_actor(self.operator.as_ref())).unwrap_or_else(|_| Actor::admin())
    }
}

impl FromRequestParts<AppState> for WalletAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        AdminOnly::from_request_parts(parts, state).await?;
        let ApiPath(OrganizationPath { organization_id }) =
            ApiPath::from_request_parts(parts, state).await?;
        Ok(Self {
            organization_id,
            operator: parts.extensions.get::<ActingOperator>().cloned(),
        })
    }
}

/// The admin, acting on the organization in the path (`/v1/admin/organizations/{organization_id}
/// /...`): 401 without a valid credential, 403 `ADMIN_REQUIRED` for any organization key.
/// Whether the organization exists is the handler's question (404 `ORGANIZATION_NOT_FOUND`).
#[derive(Debug, Clone)]
pub struct OrganizationAdmin {
    pub organization_id: OrganizationId,
    /// Who, when the admin's call came from an operator's console session.
    pub operator: Option<ActingOperator>,
}

impl OrganizationAdmin {
    /// What access-block changes record as their actor: `admin` or `admin:<name>`.
    pub fn actor(&self) -> String {
        admin_actor(self.operator.as_ref())
    }
}

impl FromRequestParts<AppState> for OrganizationAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        AdminOnly::from_request_parts(parts, state).await?;
        let ApiPath(OrganizationPath { organization_id }) =
            ApiPath::from_request_parts(parts, state).await?;
        Ok(Self {
            organization_id,
            operator: parts.extensions.get::<ActingOperator>().cloned(),
        })
    }
}

pub fn actor(principal: &Principal) -> Actor {
    match principal {
        Principal::Admin => Actor::admin(),
        Principal::Organization { key_id, .. } => Actor::api_key(*key_id),
    }
}
