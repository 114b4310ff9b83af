//! `GET /console/operator`: the health report as a page. Every figure of
//! `GET /v1/admin/health`, each with where it is acted on; a figure that must be zero and is
//! not is drawn as a problem.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Response,
};
use httpkit::{AdminOnly, ApiJson};

use crate::{AppState, routes::admin_health, wire::health::HealthReportResponse};

use super::super::{
    page::{self, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};
use super::frame;

/// How a figure is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Nothing to do.
    Calm,
    /// Worth a look (frozen wallets, past-due subscriptions, a backlog).
    Warn,
    /// Needs a person now (a negative balance, drift, a dead letter, an unapplied delivery).
    Bad,
}

impl Level {
    pub fn class(self) -> &'static str {
        match self {
            Self::Calm => "calm",
            Self::Warn => "warn",
            Self::Bad => "bad",
        }
    }
}

/// One figure of the report.
#[derive(Debug, Clone)]
pub struct Figure {
    /// `{section}-{key}`, unique on the page.
    pub id: String,
    pub label: String,
    pub count: u64,
    pub level: Level,
    /// Where it is acted on.
    pub href: Option<String>,
}

/// A card of figures.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub note: String,
    pub figures: Vec<Figure>,
}

const ORGANIZATIONS: &str = "/console/operator/organizations";

fn figure(section: &str, key: &str, label: String, count: u64, level: Level) -> Figure {
    Figure {
        id: format!("{section}-{}", key.replace(['_', '.'], "-")),
        label,
        count,
        level: if count == 0 { Level::Calm } else { level },
        href: None,
    }
}

fn linked(mut figure: Figure, href: impl Into<String>) -> Figure {
    figure.href = Some(href.into());
    figure
}

/// The report as the page's cards: a pure function of the report, so what is drawn red is
/// decided (and tested) here, not in the template.
pub fn sections(report: &HealthReportResponse) -> Vec<Section> {
    let by_key = |section: &'static str,
                  map: &std::collections::BTreeMap<String, u64>,
                  level: &dyn Fn(&str) -> Level,
                  href: &dyn Fn(&str) -> Option<String>| {
        map.iter()
            .map(|(key, &count)| {
                let mut f = figure(section, key, key.clone(), count, level(key));
                f.href = href(key);
                f
            })
            .collect::<Vec<_>>()
    };
    let mut subscriptions = by_key(
        "health-subscriptions",
        &report.subscriptions,
        &|status| match status {
            "suspended" | "past_due" => Level::Warn,
            _ => Level::Calm,
        },
        &|_| None,
    );
    subscriptions.push(linked(
        figure(
            "health-subscriptions",
            "in-dunning",
            "in dunning (past due)".into(),
            report.subscriptions_past_due,
            Level::Warn,
        ),
        ORGANIZATIONS,
    ));
    subscriptions.push(linked(
        figure(
            "health-subscriptions",
            "suspended-for-non-payment",
            "suspended for non-payment (record a manual payment)".into(),
            report.subscriptions_suspended,
            Level::Warn,
        ),
        ORGANIZATIONS,
    ));
    let mut campaigns = by_key(
        "health-campaigns",
        &report.campaigns_paused,
        &|_| Level::Warn,
        &|_| None,
    );
    campaigns
        .iter_mut()
        .for_each(|f| f.label = format!("paused: {}", f.label));
    campaigns.push(figure(
        "health-campaigns",
        "stalled",
        format!(
            "running without progress for over {} s",
            report.stalled_after_secs
        ),
        report.campaigns_stalled,
        Level::Bad,
    ));
    let mut outbox = by_key(
        "health-outbox",
        &report.outbox_dead,
        &|_| Level::Bad,
        &|topic| {
            Some(format!(
                "/console/operator/outbox?status=dead&topic={}",
                page::url_component(topic)
            ))
        },
    );
    outbox.iter_mut().for_each(|f| {
        f.id = f.id.replacen("health-outbox-", "health-outbox-dead-", 1);
        f.label = format!("dead letters: {}", f.label);
    });
    let mut pending = by_key(
        "health-outbox-pending",
        &report.outbox_pending,
        &|_| Level::Warn,
        &|topic| {
            Some(format!(
                "/console/operator/outbox?status=pending&topic={}",
                page::url_component(topic)
            ))
        },
    );
    pending
        .iter_mut()
        .for_each(|f| f.label = format!("backlog: {}", f.label));
    outbox.extend(pending);
    vec![
        Section {
            id: "health-negative-balances",
            title: "Wallets with a negative balance",
            note: "Must be 0: a negative balance is a bug, not a customer's debt.".into(),
            figures: vec![linked(
                figure(
                    "health-negative-balances",
                    "wallets",
                    "wallets below zero".into(),
                    report.wallets_negative,
                    Level::Bad,
                ),
                ORGANIZATIONS,
            )],
        },
        Section {
            id: "health-drift",
            title: "Reconciliation drift",
            note: "Must be 0: wallets whose figures differ from their latest ledger entry's."
                .into(),
            figures: vec![linked(
                figure(
                    "health-drift",
                    "wallets",
                    "wallets drifted".into(),
                    report.wallets_drifted,
                    Level::Bad,
                ),
                ORGANIZATIONS,
            )],
        },
        Section {
            id: "health-frozen",
            title: "Frozen wallets by source",
            note: "A wallet frozen by two sources counts under each; open the organization to \
                   lift an admin freeze."
                .into(),
            figures: by_key(
                "health-frozen",
                &report.wallets_frozen,
                &|_| Level::Warn,
                &|_| Some(ORGANIZATIONS.to_owned()),
            ),
        },
        Section {
            id: "health-subscriptions",
            title: "Subscriptions",
            note: "By status; an organization's page records manual payments and lifts admin \
                   access blocks."
                .into(),
            figures: subscriptions,
        },
        Section {
            id: "health-campaigns",
            title: "Campaigns",
            note: "Paused by reason, and stalled.".into(),
            figures: campaigns,
        },
        Section {
            id: "health-outbox",
            title: "Outbox",
            note: "Dead letters need a person (requeue once the cause is fixed); a growing \
                   backlog means delivery is behind."
                .into(),
            figures: outbox,
        },
        Section {
            id: "health-inbox",
            title: "Webhook inbox",
            note: "Deliveries not (yet) applied, by status; unmatched and failed ones are \
                   re-applied from the inbox."
                .into(),
            figures: by_key(
                "health-inbox",
                &report.webhook_inbox,
                &|status| match status {
                    "unmatched" | "failed" | "dead" | "held" => Level::Bad,
                    _ => Level::Warn,
                },
                &|status| {
                    Some(format!(
                        "/console/operator/inbox?status={}",
                        page::url_component(status)
                    ))
                },
            ),
        },
    ]
}

#[derive(Template)]
#[template(path = "console/operator_health.html")]
struct HealthPage {
    frame: Frame,
    sections: Vec<Section>,
}

pub async fn page(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    let ApiJson(report) = admin_health::health_report(State(state), AdminOnly).await?;
    Ok(page::render(&HealthPage {
        frame: frame(&session, "Health", "/console/operator", &outcome),
        sections: sections(&report),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn report() -> HealthReportResponse {
        let map = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        HealthReportResponse {
            wallets_negative: 0,
            wallets_drifted: 2,
            wallets_frozen: map(&[("admin", 1), ("billing", 0), ("risk", 0)]),
            subscriptions: map(&[("active", 3), ("past_due", 1)]),
            subscriptions_past_due: 1,
            subscriptions_suspended: 0,
            campaigns_paused: map(&[("funds", 0)]),
            campaigns_stalled: 0,
            stalled_after_secs: 900,
            outbox_pending: map(&[("notification", 4)]),
            outbox_dead: map(&[("notification", 1)]),
            webhook_inbox: map(&[("failed", 1), ("received", 2), ("unmatched", 0)]),
        }
    }

    fn find<'a>(sections: &'a [Section], id: &str) -> &'a Figure {
        sections
            .iter()
            .flat_map(|s| &s.figures)
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no figure {id}"))
    }

    #[test]
    fn figures_that_must_be_zero_are_bad_only_when_they_are_not() {
        let sections = sections(&report());
        assert_eq!(
            find(&sections, "health-negative-balances-wallets").level,
            Level::Calm
        );
        assert_eq!(find(&sections, "health-drift-wallets").level, Level::Bad);
        assert_eq!(find(&sections, "health-inbox-failed").level, Level::Bad);
        assert_eq!(find(&sections, "health-inbox-unmatched").level, Level::Calm);
        assert_eq!(find(&sections, "health-inbox-received").level, Level::Warn);
        assert_eq!(
            find(&sections, "health-outbox-dead-notification").level,
            Level::Bad
        );
        assert_eq!(
            find(&sections, "health-outbox-pending-notification").count,
            4
        );
        assert_eq!(
            find(&sections, "health-inbox-failed").href.as_deref(),
            Some("/console/operator/inbox?status=failed")
        );
        let mut negative = report();
        negative.wallets_negative = 1;
        assert_eq!(
            find(
                &super::sections(&negative),
                "health-negative-balances-wallets"
            )
            .level,
            Level::Bad
        );
    }

    #[test]
    fn every_figure_has_its_own_id() {
        let sections = sections(&report());
        let mut ids: Vec<&str> = sections
            .iter()
            .flat_map(|s| &s.figures)
            .map(|f| f.id.as_str())
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all);
    }
}
