//! `/v1/admin/organizations/{organization_id}/campaigns/...`: what only operators do to
//! campaigns: resolving recipients left `unconfirmed` (their Twilio call may or may not have
//! sent them), once Twilio's console or message log says which.

use axum::extract::State;
use campaigns::{CampaignId, Resolution};
use httpkit::{ApiError, ApiJson, ApiPath, ProblemBody};
use primitives::OrganizationId;
use uuid::Uuid;

use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    access::OrganizationAdmin,
    wire::campaigns::{RecipientView, ResolveRecipientRequest},
};

/// A Twilio message SID as Twilio's console shows it: two capital letters (`SM`, `MM`) and 32
/// hex digits.
fn is_message_sid(value: &str) -> bool {
    value.len() == 34
        && value.bytes().take(2).all(|b| b.is_ascii_uppercase())
        && value.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

fn resolution(request: ResolveRecipientRequest) -> Result<Resolution, ApiError> {
    let sid = request.twilio_sid.filter(|sid| !sid.trim().is_empty());
    if let Some(sid) = &sid
        && !is_message_sid(sid)
    {
        return Err(ApiError::validation_failed(
            "twilio_sid must be two capital letters and 32 hex digits (SM...)",
        )
        .with_member("field", "twilio_sid"));
    }
    match request.outcome.as_str() {
        "sent" => Ok(Resolution::Sent { twilio_sid: sid }),
        "not_sent" if sid.is_some() => Err(ApiError::validation_failed(
            "twilio_sid names a message Twilio sent: send it only with outcome sent",
        )
        .with_member("field", "twilio_sid")),
        "not_sent" => Ok(Resolution::NotSent),
        _ => Err(
            ApiError::validation_failed("outcome must be sent or not_sent")
                .with_member("field", "outcome"),
        ),
    }
}

/// Resolves an unconfirmed recipient (admin only). `sent`: it stays charged (or is charged
/// now, if it could not be before) and becomes `sent`. `not_sent`: its charge is credited back
/// and it becomes `failed`; it is never resent (add the number to a new campaign to send it).
/// Anything but an unconfirmed recipient is refused and nothing changes, so resolving twice is
/// harmless.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/campaigns/{campaign_id}/recipients/{recipient_id}/resolve",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
        ("recipient_id" = i64, Path, description = "The recipient's id in the campaign."),
    ),
    request_body = ResolveRecipientRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resolved: the recipient as it is now.", body = RecipientView),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`CAMPAIGN_NOT_FOUND` (not in this organization) or \
            `RECIPIENT_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The recipient is not unconfirmed \
            (`RECIPIENT_NOT_UNCONFIRMED`, with `recipient_status`); nothing changed.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field` for \
            `twilio_sid`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn resolve_recipient(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiPath((_, campaign_id, recipient_id)): ApiPath<(OrganizationId, Uuid, i64)>,
    ApiJson(request): ApiJson<ResolveRecipientRequest>,
) -> Result<ApiJson<RecipientView>, AppError> {
    let resolution = resolution(request)?;
    let campaign_id = CampaignId::from_uuid(campaign_id);
    let mut conn = state.conn().await?;
    let recipient = state
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            admin.organization_id,
            campaign_id,
            recipient_id,
            &resolution,
        )
        .await?;
    tracing::info!(
        organization_id = %admin.organization_id,
        %campaign_id,
        recipient_id,
        status = recipient.status.as_str(),
        actor = "admin",
        "unconfirmed campaign recipient resolved by an operator"
    );
    Ok(ApiJson(recipient.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(outcome: &str, sid: Option<&str>) -> ResolveRecipientRequest {
        ResolveRecipientRequest {
            outcome: outcome.to_owned(),
            twilio_sid: sid.map(str::to_owned),
        }
    }

    #[test]
    fn a_sid_goes_only_with_sent_and_must_look_like_one() {
        let sid = format!("SM{}", "0a".repeat(16));
        assert_eq!(
            resolution(request("sent", Some(&sid))).unwrap(),
            Resolution::Sent {
                twilio_sid: Some(sid.clone())
            }
        );
        assert_eq!(
            resolution(request("sent", None)).unwrap(),
            Resolution::Sent { twilio_sid: None }
        );
        assert_eq!(
            resolution(request("not_sent", Some(" "))).unwrap(),
            Resolution::NotSent
        );
        for (outcome, bad) in [
            ("not_sent", sid.as_str()),
            ("sent", "SM123"),
            ("sent", "sm0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"),
            ("sent", "SM0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0g"),
        ] {
            let error = resolution(request(outcome, Some(bad))).unwrap_err();
            assert_eq!(error.code(), "VALIDATION_FAILED", "{bad}");
            assert_eq!(error.member("field"), Some(&"twilio_sid".into()));
        }
        for outcome in ["", "Sent", "maybe", "not sent"] {
            let error = resolution(request(outcome, None)).unwrap_err();
            assert_eq!(error.member("field"), Some(&"outcome".into()), "{outcome}");
        }
    }
}
