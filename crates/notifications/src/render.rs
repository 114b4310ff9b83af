//! What each notification says: plain, specific text, wrapped at 72 columns.

use subscriptions::NotificationKind;

use crate::{
    facts::{self, Facts},
    notification::Notification,
};

/// A rendered email, before it has a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
}

const WIDTH: usize = 72;
const UPDATE_PAYMENT: &str =
    "Please update your payment method or pay the outstanding amount as soon as possible.";
const WHAT_SENDING_MEANS: &str = "sending SMS and WhatsApp messages, broadcasts and campaigns";
const WALLET_FROZEN_MEANS: &str = "messages and campaigns paid from the wallet cannot be sent";

/// Renders `notification` for the organization called `organization_name`. Facts missing from
/// the payload leave their sentence out; rendering never fails.
pub fn render(notification: &Notification, organization_name: &str) -> Email {
    let org: String = organization_name
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let facts = Facts::new(&notification.payload);
    let of_amount = facts
        .amount()
        .map(|amount| format!(" of {amount}"))
        .unwrap_or_default();
    let because = facts
        .text(facts::REASON)
        .map(|reason| format!(" (reason: {reason})"))
        .unwrap_or_default();
    let next_retry = match (
        facts.time(facts::NEXT_STEP_AT),
        facts.count(facts::NEXT_ATTEMPT),
    ) {
        (Some(at), Some(n)) => format!("We will try the payment again on {at} (attempt {n})."),
        (Some(at), None) => format!("We will try the payment again on {at}."),
        (None, _) => "We will try the payment again automatically.".to_owned(),
    };
    // "a payment of 49.00 USD for Acme made through Stripe (reference ch_1)": whatever the
    // customer needs to find it in their provider account.
    let a_payment = format!(
        "a payment{of_amount} for {org}{}{}",
        facts
            .provider()
            .map(|provider| format!(" made through {provider}"))
            .unwrap_or_default(),
        facts
            .text(facts::PAYMENT_REFERENCE)
            .map(|reference| format!(" (reference {reference})"))
            .unwrap_or_default()
    );
    let taken_back = facts.shortfall().map_or_else(
        || "The entry is in the wallet's history.".to_owned(),
        |shortfall| {
            format!(
                "The wallet could not cover {shortfall} of it, so it has been frozen: {WALLET_FROZEN_MEANS} until the outstanding {shortfall} is settled. Please contact us to settle it."
            )
        },
    );
    let on = |key| {
        facts
            .time(key)
            .map(|at| format!(" on {at}"))
            .unwrap_or_default()
    };

    let (subject, paragraphs): (String, Vec<String>) = match notification.kind {
        NotificationKind::PaymentFailed => (
            format!("Payment failed for {org}"),
            vec![
                format!("We could not collect the payment{of_amount} for the {org} subscription{because}."),
                next_retry,
                UPDATE_PAYMENT.to_owned(),
            ],
        ),
        NotificationKind::RetryScheduled => (
            format!("Next payment attempt for {org}"),
            vec![
                format!("The payment{of_amount} for the {org} subscription is still outstanding{because}."),
                next_retry,
                "Updating your payment method before then avoids any interruption.".to_owned(),
            ],
        ),
        NotificationKind::PaymentWarning => (
            format!("Action needed: the payment for {org} is overdue"),
            vec![
                format!("We still could not collect the payment{of_amount} for the {org} subscription{because}."),
                next_retry,
                format!("If the payment keeps failing, {WHAT_SENDING_MEANS} will be suspended. {UPDATE_PAYMENT}"),
            ],
        ),
        NotificationKind::FinalWarning => (
            format!("Final notice: sending for {org} will be suspended"),
            vec![
                format!("The payment{of_amount} for the {org} subscription is still outstanding{because}."),
                format!(
                    "If no payment succeeds{}, {WHAT_SENDING_MEANS} will be suspended until the outstanding amount is paid.",
                    facts
                        .time(facts::NEXT_STEP_AT)
                        .map(|at| format!(" by {at}"))
                        .unwrap_or_default()
                ),
                UPDATE_PAYMENT.to_owned(),
            ],
        ),
        NotificationKind::Suspended => (
            format!("Sending is suspended for {org}"),
            vec![
                format!("The payment for the {org} subscription could not be collected, so {WHAT_SENDING_MEANS} is now blocked. Running campaigns have been paused."),
                "Sending stays blocked until the outstanding amount is paid manually. You can still sign in, read your data and invoices, and update your payment method.".to_owned(),
            ],
        ),
        NotificationKind::Restored => (
            format!("Access restored for {org}"),
            vec![
                format!("Thank you: we received the payment{of_amount} for the {org} subscription."),
                "Access is back: you can send messages again, and campaigns that were paused for billing reasons resume by themselves.".to_owned(),
            ],
        ),
        NotificationKind::TrialEnding => (
            format!("The trial for {org} ends soon"),
            vec![
                format!("The free trial for {org} ends{}.", on(facts::TRIAL_END)),
                "Add a payment method before then to keep sending without interruption.".to_owned(),
            ],
        ),
        NotificationKind::TrialEnded => (
            format!("The trial for {org} has ended"),
            vec![
                format!("The free trial for {org} has ended, so {WHAT_SENDING_MEANS} is paused."),
                "Add a payment method to continue; your data is kept.".to_owned(),
            ],
        ),
        NotificationKind::CancellationScheduled => (
            format!("The subscription for {org} will end"),
            vec![
                format!(
                    "As requested, the {org} subscription will end{}. Until then everything keeps working.",
                    facts.time(facts::PERIOD_END).map_or_else(
                        || " at the end of the current period".to_owned(),
                        |at| format!(" on {at}")
                    )
                ),
                "Changed your mind? You can keep the subscription by resuming it before that date.".to_owned(),
            ],
        ),
        NotificationKind::Canceled => (
            format!("The subscription for {org} has been canceled"),
            vec![
                format!("The {org} subscription has been canceled{because}. {} is no longer available.", capitalized(WHAT_SENDING_MEANS)),
                "You can still sign in and read your data, and subscribe again at any time.".to_owned(),
            ],
        ),
        NotificationKind::Expired => (
            format!("The subscription for {org} has expired"),
            vec![
                format!("The {org} subscription has expired. {} is no longer available.", capitalized(WHAT_SENDING_MEANS)),
                "You can still sign in and read your data, and subscribe again at any time.".to_owned(),
            ],
        ),
        NotificationKind::DisputeOpened => (
            format!("A payment for {org} is disputed"),
            vec![
                format!("{} has been disputed{because}.", capitalized(&a_payment)),
                format!("While the dispute is reviewed, the {org} wallet is frozen: {WALLET_FROZEN_MEANS}. Money added to the wallet is still credited."),
                "If the dispute was opened by mistake, please withdraw it with your bank, card issuer or payment provider. The freeze is lifted as soon as the dispute is resolved in our favour.".to_owned(),
            ],
        ),
        NotificationKind::DisputeWon => (
            format!("The payment dispute for {org} is resolved"),
            vec![
                format!("The dispute over {a_payment} was resolved in our favour: the payment stands."),
                format!("The freeze placed on the {org} wallet for the review has been lifted. No action is needed."),
            ],
        ),
        NotificationKind::DisputeLost => (
            format!("A disputed payment for {org} was taken back"),
            vec![
                format!("The dispute over {a_payment} was resolved in the payer's favour, so the amount has been taken back from the {org} wallet."),
                taken_back,
            ],
        ),
        NotificationKind::PaymentReversed => (
            format!("A payment for {org} was reversed"),
            vec![
                format!(
                    "{} was reversed{}, so the amount has been taken back from the {org} wallet.",
                    capitalized(&a_payment),
                    if because.is_empty() { " (a refund or a chargeback)" } else { &because }
                ),
                taken_back,
            ],
        ),
    };

    let mut footer = format!("Organization: {org}");
    if let Some(id) = facts.text(facts::SUBSCRIPTION_ID) {
        footer.push_str(&format!("\nSubscription: {id}"));
    }
    let mut text = String::from("Hello,\n\n");
    for paragraph in &paragraphs {
        text.push_str(&wrap(paragraph));
        text.push_str("\n\n");
    }
    text.push_str(&footer);
    text.push_str("\n\nThis is an automatic message about your account's billing.\n");
    Email { subject, text }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Greedy word wrap; a word longer than a line stays whole on its own line.
fn wrap(paragraph: &str) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in paragraph.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > WIDTH {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width_and_keeps_long_words_whole() {
        let text = "word ".repeat(40);
        assert!(
            wrap(&text)
                .lines()
                .all(|line| line.chars().count() <= WIDTH)
        );
        assert_eq!(wrap(&text).split_whitespace().count(), 40);
        let long = "x".repeat(100);
        assert_eq!(wrap(&format!("a {long} b")), format!("a\n{long}\nb"));
        assert_eq!(wrap(""), "");
    }
}
