//! Every domain error's status, code, title, detail and members, pinned.

use diesel::result::DatabaseErrorKind;
use ledger::{FreezeSource, HoldStatus};
use primitives::{Currency, HoldId, OrganizationId, ProviderName, SubscriptionId};
use subscriptions::SubscriptionStatus;

use super::*;

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// A domain error of any class whose text is a secret unless shown to the caller.
#[derive(Debug, thiserror::Error)]
#[error("secret text")]
struct Classed(ErrorClass);

impl Classified for Classed {
    fn class(&self) -> ErrorClass {
        self.0
    }

    fn code(&self) -> &'static str {
        "SOME_CODE"
    }
}

#[test]
fn each_class_has_its_status_and_a_fault_says_nothing_about_its_cause() {
    for class in ErrorClass::ALL {
        let status = match class {
            ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::NotEntitled => StatusCode::PAYMENT_REQUIRED,
            ErrorClass::Busy | ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let problem = problem(&Classed(class));
        assert_eq!(problem.status(), status, "{class:?}");
        let told = (
            problem.code() == "SOME_CODE",
            problem.detail() == Some("secret text"),
        );
        assert_eq!(told, (!class.is_fault(), !class.is_fault()), "{class:?}");
        let response = problem.into_response();
        let retry_after = response.headers().get(RETRY_AFTER);
        assert_eq!(retry_after.is_some(), class.is_retryable(), "{class:?}");
    }
}

#[test]
fn domain_errors_map_to_stable_codes_and_statuses() {
    use campaigns::{CampaignStatus, RecipientStatus};

    let id = outbox::MessageId::new();
    let cases: Vec<(AppError, u16, &str)> = vec![
        (
            TenancyError::OrganizationNotFound(OrganizationId::new()).into(),
            404,
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            TenancyError::OrganizationExists(OrganizationId::new()).into(),
            409,
            "ORGANIZATION_EXISTS",
        ),
        (
            TenancyError::InvalidEmail { reason: "no @" }.into(),
            422,
            "INVALID_EMAIL",
        ),
        (LedgerError::WalletNotFound.into(), 404, "WALLET_NOT_FOUND"),
        (
            LedgerError::WalletAlreadyExists {
                organization_id: OrganizationId::new(),
                currency: Currency::EUR,
            }
            .into(),
            409,
            "WALLET_ALREADY_EXISTS",
        ),
        (
            LedgerError::InsufficientFunds {
                available: usd(5),
                requested: usd(1234),
            }
            .into(),
            422,
            "INSUFFICIENT_FUNDS",
        ),
        (
            LedgerError::FrozenWallet {
                sources: vec![FreezeSource::Billing],
            }
            .into(),
            409,
            "FROZEN_WALLET",
        ),
        (
            LedgerError::InvalidExpiry { max_days: 366 }.into(),
            422,
            "INVALID_EXPIRY",
        ),
        (LedgerError::Busy.into(), 503, "WALLET_BUSY"),
        (
            LedgerError::Unavailable {
                cause: "connection reset (secret detail)".into(),
            }
            .into(),
            503,
            "LEDGER_UNAVAILABLE",
        ),
        (
            LedgerError::HoldNotOpen {
                hold_id: HoldId::new(),
                status: HoldStatus::Expired,
            }
            .into(),
            409,
            "HOLD_NOT_OPEN",
        ),
        (
            InputError {
                code: "INVALID_REASON",
                field: "reason",
                message: "must not be empty".into(),
            }
            .into(),
            422,
            "INVALID_REASON",
        ),
        (
            LedgerError::Corrupt("wallet 42 has balance -7 (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            LedgerError::Database(DieselError::NotFound).into(),
            500,
            "INTERNAL",
        ),
        (
            SubscriptionError::NotFound.into(),
            404,
            "SUBSCRIPTION_NOT_FOUND",
        ),
        (
            SubscriptionError::OrganizationNotFound.into(),
            404,
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            SubscriptionError::AlreadyLive {
                organization: OrganizationId::new(),
                existing: SubscriptionId::new(),
            }
            .into(),
            409,
            "SUBSCRIPTION_EXISTS",
        ),
        (
            SubscriptionError::ProviderIdTaken.into(),
            409,
            "PROVIDER_SUBSCRIPTION_TAKEN",
        ),
        (
            SubscriptionError::Invalid {
                field: "plan",
                message: "too long",
            }
            .into(),
            422,
            "VALIDATION_FAILED",
        ),
        (SubscriptionError::Busy.into(), 503, "SUBSCRIPTION_BUSY"),
        (
            SubscriptionError::Corrupt("status of 42 (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            EnforcementError::Subscription(SubscriptionError::Busy).into(),
            503,
            "SUBSCRIPTION_BUSY",
        ),
        (
            EnforcementError::Ledger(LedgerError::Busy).into(),
            503,
            "WALLET_BUSY",
        ),
        (
            EnforcementError::Subscription(SubscriptionError::NotFound).into(),
            404,
            "SUBSCRIPTION_NOT_FOUND",
        ),
        (
            EnforcementError::Effect("secret detail".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            EnforcementError::Database(DieselError::NotFound).into(),
            500,
            "INTERNAL",
        ),
        (
            OutboxError::NotFound(id).into(),
            404,
            "OUTBOX_MESSAGE_NOT_FOUND",
        ),
        (
            OutboxError::NotDead {
                id,
                status: outbox::Status::Pending,
            }
            .into(),
            409,
            "OUTBOX_MESSAGE_NOT_DEAD",
        ),
        (
            OutboxError::Input(outbox::InputError {
                field: "topic",
                message: "must be 1 to 64 characters",
            })
            .into(),
            422,
            "INVALID_OUTBOX_INPUT",
        ),
        (
            OutboxError::Corrupt("status of 42 is 'gone' (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            CampaignsError::InvalidInput {
                field: "name",
                reason: "must be 1 to 200 characters",
            }
            .into(),
            422,
            "VALIDATION_FAILED",
        ),
        (
            CampaignsError::InvalidPhoneNumbers {
                count: 1,
                invalid: vec![],
            }
            .into(),
            422,
            "INVALID_PHONE_NUMBER",
        ),
        (
            CampaignsError::TooManyRecipients { max: 10_000 }.into(),
            422,
            "TOO_MANY_RECIPIENTS",
        ),
        (
            CampaignsError::CurrencyMismatch {
                wallet: Currency::USD,
                requested: Currency::EUR,
            }
            .into(),
            422,
            "CURRENCY_MISMATCH",
        ),
        (CampaignsError::CostOverflow.into(), 422, "INVALID_AMOUNT"),
        (CampaignsError::BrandNotFound.into(), 404, "BRAND_NOT_FOUND"),
        (
            CampaignsError::CampaignNotFound.into(),
            404,
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            CampaignsError::RecipientNotFound.into(),
            404,
            "RECIPIENT_NOT_FOUND",
        ),
        (
            CampaignsError::SubaccountTaken.into(),
            409,
            "SUBACCOUNT_TAKEN",
        ),
        (
            CampaignsError::InvalidState {
                action: "start",
                status: CampaignStatus::Running,
            }
            .into(),
            409,
            "CAMPAIGN_STATE_CONFLICT",
        ),
        (CampaignsError::NoRecipients.into(), 422, "NO_RECIPIENTS"),
        (
            CampaignsError::NotUnconfirmed {
                status: RecipientStatus::Sent,
            }
            .into(),
            409,
            "RECIPIENT_NOT_UNCONFIRMED",
        ),
        (
            CampaignsError::Ledger(LedgerError::InsufficientFunds {
                available: usd(5),
                requested: usd(500),
            })
            .into(),
            422,
            "INSUFFICIENT_FUNDS",
        ),
        (
            CampaignsError::Ledger(LedgerError::FrozenWallet {
                sources: vec![FreezeSource::Billing],
            })
            .into(),
            409,
            "FROZEN_WALLET",
        ),
        (
            CampaignsError::Ledger(LedgerError::Busy).into(),
            503,
            "WALLET_BUSY",
        ),
        (
            CampaignsError::Subscription(SubscriptionError::OrganizationNotFound).into(),
            404,
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            CampaignsError::Corrupt("campaign 42: status (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            CampaignsError::Outbox(OutboxError::Corrupt("secret detail".into())).into(),
            500,
            "INTERNAL",
        ),
        (
            CampaignsError::OutboxInput(outbox::InputError {
                field: "dedupe_key",
                message: "secret detail",
            })
            .into(),
            500,
            "INTERNAL",
        ),
        (
            CampaignsError::Pool(db::PoolError::Closed).into(),
            503,
            "SERVICE_UNAVAILABLE",
        ),
        (CampaignsError::NotEligible(vec![]).into(), 500, "INTERNAL"),
        (
            IntakeError::NotFound(uuid::Uuid::nil()).into(),
            404,
            "WEBHOOK_EVENT_NOT_FOUND",
        ),
        (
            IntakeError::Pool("secret detail".into()).into(),
            503,
            "SERVICE_UNAVAILABLE",
        ),
        (
            IntakeError::Corrupt("inbox row 42 (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            CustomerError::Invalid {
                field: "return_url",
                message: "must be an absolute http(s) URL".into(),
            }
            .into(),
            422,
            "VALIDATION_FAILED",
        ),
        (
            CustomerError::PlanNotOffered {
                plan: "gold".into(),
                provider: ProviderName::Stripe,
                offered: vec!["pro".into()],
            }
            .into(),
            422,
            "PLAN_NOT_OFFERED",
        ),
        (
            CustomerError::ProviderNotConfigured {
                provider: ProviderName::Paypal,
            }
            .into(),
            422,
            "PROVIDER_NOT_CONFIGURED",
        ),
        (
            CustomerError::OperationUnsupported {
                provider: ProviderName::Payhere,
                operation: "pausing a subscription",
            }
            .into(),
            422,
            "PROVIDER_OPERATION_UNSUPPORTED",
        ),
        (
            CustomerError::NoProviderSubscription {
                operation: "update a payment method",
            }
            .into(),
            409,
            "NO_PROVIDER_SUBSCRIPTION",
        ),
        (
            CustomerError::StateConflict {
                action: "pause",
                status: SubscriptionStatus::PastDue,
                why: "a payment is owed: pay first",
            }
            .into(),
            409,
            "SUBSCRIPTION_STATE_CONFLICT",
        ),
        (
            CustomerError::IdempotencyConflict {
                original: "a wallet top-up".into(),
            }
            .into(),
            409,
            "IDEMPOTENCY_CONFLICT",
        ),
        (CustomerError::TopUpNotFound.into(), 404, "TOP_UP_NOT_FOUND"),
        (
            CustomerError::CurrencyNotOffered {
                currency: "EUR".into(),
                offered: vec!["USD".into()],
            }
            .into(),
            422,
            "TOP_UP_CURRENCY_NOT_OFFERED",
        ),
        (
            CustomerError::AmountOutOfRange {
                requested: usd(1),
                min: usd(500),
                max: usd(50_000),
            }
            .into(),
            422,
            "TOP_UP_AMOUNT_OUT_OF_RANGE",
        ),
        (
            CustomerError::ProviderUnavailable {
                provider: ProviderName::Stripe,
                source: ProviderError::Transport {
                    provider: ProviderName::Stripe,
                    message: "connection refused (secret detail)".into(),
                },
            }
            .into(),
            503,
            "PROVIDER_UNAVAILABLE",
        ),
        (
            CustomerError::ProviderRefused {
                provider: ProviderName::Stripe,
                source: ProviderError::Api {
                    provider: ProviderName::Stripe,
                    status: 400,
                    code: "resource_missing".into(),
                    message: "No such price (secret detail)".into(),
                },
            }
            .into(),
            502,
            "PROVIDER_REFUSED",
        ),
        (
            CustomerError::Subscription(SubscriptionError::AlreadyLive {
                organization: OrganizationId::new(),
                existing: SubscriptionId::new(),
            })
            .into(),
            409,
            "SUBSCRIPTION_EXISTS",
        ),
        (
            CustomerError::Ledger(LedgerError::CurrencyMismatch {
                wallet: Currency::USD,
                requested: Currency::LKR,
            })
            .into(),
            422,
            "CURRENCY_MISMATCH",
        ),
        (
            CustomerError::Corrupt("request 42 (secret detail)".into()).into(),
            500,
            "INTERNAL",
        ),
        (
            CustomerError::Pool(db::PoolError::Closed).into(),
            503,
            "SERVICE_UNAVAILABLE",
        ),
    ];
    for (error, status, code) in cases {
        let problem = ApiError::from(error);
        assert_eq!(problem.status().as_u16(), status, "{code}");
        assert_eq!(problem.code(), code);
        let body = serde_json::to_string(&problem.body()).unwrap_or_default();
        assert!(!body.contains("secret"), "{body}");
    }
}

#[test]
fn problems_keep_their_titles_details_and_members() {
    use campaigns::{CampaignStatus, InvalidPhone};

    let hold_id = HoldId::new();
    let message_id = outbox::MessageId::new();
    let not_open = format!("hold {hold_id} is expired");
    let not_dead =
        format!("outbox message {message_id} is delivered: only a dead message can be retried");
    type Members = Vec<(&'static str, serde_json::Value)>;
    let cases: Vec<(AppError, &str, &str, Members)> = vec![
        (
            LedgerError::InsufficientFunds {
                available: usd(5),
                requested: usd(1234),
            }
            .into(),
            "Insufficient funds",
            "insufficient funds: 0.05 USD available, 12.34 USD requested",
            vec![
                ("available", "0.05".into()),
                ("requested", "12.34".into()),
                ("currency", "USD".into()),
            ],
        ),
        (
            LedgerError::HoldNotOpen {
                hold_id,
                status: HoldStatus::Expired,
            }
            .into(),
            "Hold not open",
            &not_open,
            vec![
                ("hold_id", hold_id.to_string().into()),
                ("hold_status", "expired".into()),
            ],
        ),
        (
            LedgerError::HoldNotFound { hold_id }.into(),
            "Hold not found",
            "no such hold on this wallet",
            vec![("hold_id", hold_id.to_string().into())],
        ),
        (
            LedgerError::Busy.into(),
            "Wallet busy",
            "the wallet is busy (lock timeout or serialization conflict); retry",
            vec![],
        ),
        (
            TenancyError::ApiKeyNotFound(primitives::ApiKeyId::new()).into(),
            "API key not found",
            "no such API key in this organization",
            vec![],
        ),
        (
            TenancyError::InvalidName {
                field: "name",
                reason: "must not be empty",
            }
            .into(),
            "Validation failed",
            "invalid name: must not be empty",
            vec![],
        ),
        (
            SubscriptionError::Invalid {
                field: "plan",
                message: "too long",
            }
            .into(),
            "Validation failed",
            "plan: too long",
            vec![("field", "plan".into())],
        ),
        (
            SubscriptionError::Busy.into(),
            "Subscription busy",
            "the subscription is busy; retry",
            vec![],
        ),
        (
            OutboxError::NotDead {
                id: message_id,
                status: outbox::Status::Delivered,
            }
            .into(),
            "Outbox message not dead",
            &not_dead,
            vec![
                ("message_id", message_id.to_string().into()),
                ("message_status", "delivered".into()),
            ],
        ),
        (
            CampaignsError::InvalidPhoneNumbers {
                count: 25,
                invalid: vec![InvalidPhone {
                    index: 3,
                    value: "0800 FLOWERS".into(),
                }],
            }
            .into(),
            "Validation failed",
            "25 recipient numbers are not E.164 (+ and 7 to 15 digits)",
            vec![
                ("count", 25.into()),
                (
                    "invalid",
                    serde_json::json!([{"index": 3, "value": "0800 FLOWERS"}]),
                ),
            ],
        ),
        (
            CampaignsError::InvalidState {
                action: "add recipients to",
                status: CampaignStatus::Running,
            }
            .into(),
            "Campaign state conflict",
            "cannot add recipients to a running campaign",
            vec![("campaign_status", "running".into())],
        ),
        (
            CampaignsError::InvalidInput {
                field: "body",
                reason: "must be 1 to 1600 characters, not only spaces",
            }
            .into(),
            "Validation failed",
            "body must be 1 to 1600 characters, not only spaces",
            vec![("field", "body".into())],
        ),
        (
            CampaignsError::Ledger(LedgerError::InsufficientFunds {
                available: usd(5),
                requested: usd(500),
            })
            .into(),
            "Insufficient funds",
            "insufficient funds: 0.05 USD available, 5.00 USD requested",
            vec![("requested", "5.00".into())],
        ),
        (
            IntakeError::NotFound(uuid::Uuid::nil()).into(),
            "Webhook event not found",
            "no such webhook delivery in the inbox",
            vec![("event_id", uuid::Uuid::nil().to_string().into())],
        ),
        (
            CustomerError::PlanNotOffered {
                plan: "gold".into(),
                provider: ProviderName::Stripe,
                offered: vec!["pro".into()],
            }
            .into(),
            "Validation failed",
            "plan \"gold\" is not offered with stripe",
            vec![
                ("field", "plan".into()),
                ("provider", "stripe".into()),
                ("offered", serde_json::json!(["pro"])),
            ],
        ),
        (
            CustomerError::AmountOutOfRange {
                requested: usd(1),
                min: usd(500),
                max: usd(50_000),
            }
            .into(),
            "Validation failed",
            "a top-up is from 5.00 USD to 500.00 USD, not 0.01 USD",
            vec![
                ("field", "amount".into()),
                ("min", "5.00".into()),
                ("max", "500.00".into()),
                ("currency", "USD".into()),
            ],
        ),
        (
            CustomerError::StateConflict {
                action: "pause",
                status: SubscriptionStatus::PastDue,
                why: "a payment is owed: pay first",
            }
            .into(),
            "Subscription state conflict",
            "cannot pause a past_due subscription: a payment is owed: pay first",
            vec![("subscription_status", "past_due".into())],
        ),
        (
            CustomerError::TopUpNotFound.into(),
            "Top-up not found",
            "no such top-up in this organization",
            vec![],
        ),
        (
            CustomerError::OperationUnsupported {
                provider: ProviderName::Payhere,
                operation: "pausing a subscription",
            }
            .into(),
            "Operation not supported by the provider",
            "payhere does not support pausing a subscription",
            vec![("provider", "payhere".into())],
        ),
        (
            CustomerError::ProviderUnavailable {
                provider: ProviderName::Paypal,
                source: ProviderError::Transport {
                    provider: ProviderName::Paypal,
                    message: "timeout".into(),
                },
            }
            .into(),
            "Provider unavailable",
            "paypal could not be reached or answered with a temporary error; nothing was \
             written: retry the same request",
            vec![("provider", "paypal".into())],
        ),
        (
            CustomerError::ProviderRefused {
                provider: ProviderName::Stripe,
                source: ProviderError::Api {
                    provider: ProviderName::Stripe,
                    status: 400,
                    code: "resource_missing".into(),
                    message: "No such price".into(),
                },
            }
            .into(),
            "Provider refused",
            "stripe refused the request (or answered something unusable); nothing was written",
            vec![
                ("provider", "stripe".into()),
                ("provider_status", 400.into()),
                ("provider_code", "resource_missing".into()),
            ],
        ),
    ];
    for (error, title, detail, members) in cases {
        let problem = ApiError::from(error);
        assert_eq!(problem.title(), title);
        assert_eq!(problem.detail(), Some(detail), "{title}");
        for (name, value) in members {
            assert_eq!(problem.member(name), Some(&value), "{title}: {name}");
        }
    }
}

#[test]
fn not_eligible_takes_the_first_blockers_status_and_code_and_lists_every_reason() {
    use campaigns::{BrandId, MessagingStatus};
    use subscriptions::{DenialReason, SubscriptionStatus};

    let usd = |minor| Money::from_minor(minor, Currency::USD);
    let brand = BrandId::new();
    let subscription = Blocker::SubscriptionInactive {
        status: Some(SubscriptionStatus::PastDue),
        denied_because: vec![DenialReason::Status {
            status: SubscriptionStatus::PastDue,
        }],
    };
    let frozen = Blocker::WalletFrozen {
        sources: vec![ledger::FreezeSource::Billing],
    };
    let messaging = Blocker::MessagingSuspended {
        brands: vec![(brand, MessagingStatus::Suspended)],
    };
    let funds = Blocker::InsufficientFunds {
        available: usd(10),
        required: usd(500),
    };
    let all = vec![
        subscription.clone(),
        frozen.clone(),
        messaging.clone(),
        funds.clone(),
    ];
    let problem = campaigns_problem(&CampaignsError::NotEligible(all));
    assert_eq!(problem.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem.code(), "SUBSCRIPTION_INACTIVE");
    assert_eq!(
        problem.member("reasons"),
        Some(&serde_json::json!([
            {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
             "subscription_status": "past_due",
             "denied_because": [{"code": "SUBSCRIPTION_INACTIVE"}]},
            {"code": "FROZEN_WALLET", "reason": "wallet_frozen", "sources": ["billing"]},
            {"code": "MESSAGING_SUSPENDED", "reason": "messaging_suspended",
             "brands": [{"brand_id": brand.as_uuid(), "messaging_status": "suspended"}]},
            {"code": "INSUFFICIENT_FUNDS", "reason": "insufficient_funds",
             "available": "0.10", "required": "5.00", "currency": "USD"},
        ]))
    );
    assert_eq!(
        problem.member("subscription_status"),
        Some(&"past_due".into())
    );
    for (first, status, code) in [
        (frozen, StatusCode::CONFLICT, "FROZEN_WALLET"),
        (messaging, StatusCode::CONFLICT, "MESSAGING_SUSPENDED"),
        (
            funds,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INSUFFICIENT_FUNDS",
        ),
    ] {
        let problem = campaigns_problem(&CampaignsError::NotEligible(vec![first]));
        assert_eq!(problem.status(), status, "{code}");
        assert_eq!(problem.code(), code);
        let reasons = problem.member("reasons").and_then(|r| r.as_array());
        assert_eq!(reasons.map(Vec::len), Some(1), "{code}");
    }
    let problem = campaigns_problem(&CampaignsError::NotEligible(vec![Blocker::WalletFrozen {
        sources: vec![ledger::FreezeSource::Risk],
    }]));
    // The first blocker's details at the top too, as the ledger's FROZEN_WALLET has them.
    assert_eq!(
        problem.member("sources"),
        Some(&serde_json::json!(["risk"]))
    );
    // A subscription without status is null, not absent.
    let problem = campaigns_problem(&CampaignsError::NotEligible(vec![
        Blocker::SubscriptionInactive {
            status: None,
            denied_because: vec![DenialReason::NoSubscription],
        },
    ]));
    assert_eq!(
        problem.member("reasons"),
        Some(&serde_json::json!([
            {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
             "subscription_status": null,
             "denied_because": [{"code": "NO_SUBSCRIPTION"}]},
        ]))
    );
}

#[test]
fn a_lost_database_connection_is_a_retryable_503_wherever_it_surfaces() {
    let lost = || {
        [
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("terminating connection due to administrator command".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new("connection closed".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("secret detail".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("the database system is shutting down".to_owned()),
            ),
            DieselError::BrokenTransactionManager,
            DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(DieselError::BrokenTransactionManager),
                commit_error: Box::new(DieselError::DatabaseError(
                    DatabaseErrorKind::UnableToSendCommand,
                    Box::new("connection reset by peer".to_owned()),
                )),
            },
        ]
    };
    let wrapped = |error: DieselError| -> Vec<AppError> {
        let copy = || match &error {
            DieselError::DatabaseError(kind, info) => {
                DieselError::DatabaseError(*kind, Box::new(info.message().to_owned()))
            }
            DieselError::BrokenTransactionManager => DieselError::BrokenTransactionManager,
            _ => DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(DieselError::BrokenTransactionManager),
                commit_error: Box::new(DieselError::BrokenTransactionManager),
            },
        };
        vec![
            AppError::Database(copy()),
            AppError::Ledger(LedgerError::Database(copy())),
            AppError::Tenancy(TenancyError::Database(copy())),
            AppError::Outbox(OutboxError::Database(copy())),
            AppError::Campaigns(CampaignsError::Database(copy())),
            AppError::Campaigns(CampaignsError::Outbox(OutboxError::Database(copy()))),
            AppError::Enforcement(EnforcementError::Database(copy())),
            AppError::Enforcement(EnforcementError::Outbox(OutboxError::Database(copy()))),
            AppError::Enforcement(EnforcementError::Ledger(LedgerError::Database(copy()))),
            AppError::Intake(IntakeError::Database(copy())),
            AppError::Intake(IntakeError::Ledger(LedgerError::Database(copy()))),
            AppError::Intake(IntakeError::Enforcement(EnforcementError::Outbox(
                OutboxError::Database(copy()),
            ))),
        ]
    };
    // Which errors are a lost connection is db's test; here, that each is a 503 wherever it
    // surfaces.
    for error in lost() {
        for app_error in wrapped(error) {
            let debug = format!("{app_error:?}");
            let problem = ApiError::from(app_error);
            assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE, "{debug}");
            // Subscriptions call a broken socket busy; everything else is unavailable.
            assert_eq!(problem.code(), "SERVICE_UNAVAILABLE", "{debug}");
            let response = problem.into_response();
            assert_eq!(
                response.headers()[http::header::RETRY_AFTER],
                "1",
                "{debug}"
            );
        }
    }
    for other in [
        DieselError::NotFound,
        DieselError::DatabaseError(
            DatabaseErrorKind::CheckViolation,
            Box::new("new row violates check constraint".to_owned()),
        ),
        DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("relation \"wallets\" does not exist".to_owned()),
        ),
    ] {
        let problem = ApiError::from(AppError::Database(other));
        assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[test]
fn a_failed_writer_batch_is_a_retryable_503_that_hides_its_cause() {
    let error = LedgerError::Unavailable {
        cause: "connection reset by peer (secret detail)".into(),
    };
    for error in [
        AppError::from(error),
        AppError::Campaigns(CampaignsError::Ledger(LedgerError::Unavailable {
            cause: "secret detail".into(),
        })),
    ] {
        let problem = ApiError::from(error);
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.code(), "LEDGER_UNAVAILABLE");
        assert_eq!(problem.body().title, "Ledger unavailable");
        let body = serde_json::to_string(&problem.body()).unwrap_or_default();
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains("nothing was applied"), "{body}");
        let response = problem.into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }
}
