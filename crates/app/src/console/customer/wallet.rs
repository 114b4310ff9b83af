//! `GET /console/wallet`: the wallet card (balance, held, available, freezes), its latest
//! entries, and a chart of the balance after each of the last entries, drawn as SVG on the
//! server (the console runs no script).

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use chrono::{DateTime, Utc};
use httpkit::{ApiError, ApiJson, ApiQuery};
use primitives::{Money, parse_currency};

use crate::{
    AppState,
    access::WalletCaller,
    routes::wallet::{get_wallet, list_entries},
    wire::wallet::{EntryView, HistoryParams, WalletResponse},
};

use super::{WALLET, frame, is, money, principal, query};
use crate::console::{
    page::{self, ConsoleError, Frame, Outcome},
    session::CustomerSession,
};

/// Entries in the table, newest first.
const TABLE_ENTRIES: usize = 20;
/// Entries the chart draws, oldest to newest.
const CHART_ENTRIES: usize = 100;

#[derive(Template)]
#[template(path = "console/customer_wallet.html")]
struct WalletPage {
    frame: Frame,
    /// `None`: the organization has no wallet yet.
    wallet: Option<WalletCard>,
}

struct WalletCard {
    currency: String,
    balance: String,
    held: String,
    available: String,
    frozen: bool,
    freezes: Vec<FreezeRow>,
    entries: Vec<EntryRow>,
    /// `None`: nothing has moved yet.
    chart: Option<Chart>,
}

struct FreezeRow {
    source: String,
    reason: String,
    actor: String,
    since: String,
}

struct EntryRow {
    time: String,
    kind: String,
    amount: String,
    change: String,
    balance_after: String,
    reference: String,
    reason: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    session: CustomerSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let outcome: Outcome = query(raw.as_deref());
    let caller = WalletCaller {
        organization_id: session.organization_id,
        principal: principal(&session),
    };
    let wallet = match get_wallet(State(state.clone()), caller).await {
        Ok(ApiJson(wallet)) => Some(wallet),
        Err(error) => {
            let error = ApiError::from(error);
            if !is(&error, crate::error::wallet_not_found) {
                return Err(error.into());
            }
            None
        }
    };
    let card = match wallet {
        None => None,
        Some(wallet) => {
            let params = HistoryParams {
                limit: Some(CHART_ENTRIES.to_string()),
                cursor: None,
                kinds: None,
            };
            let ApiJson(history) =
                list_entries(State(state.clone()), caller, ApiQuery(params)).await?;
            Some(card(wallet, &history.entries))
        }
    };
    Ok(page::render(&WalletPage {
        frame: frame(&session, "Wallet", WALLET, &outcome),
        wallet: card,
    }))
}

fn card(wallet: WalletResponse, entries: &[EntryView]) -> WalletCard {
    let currency = wallet.currency;
    let chart = chart(
        &entries
            .iter()
            .rev()
            .filter_map(|entry| {
                let amount = parse_currency(&entry.currency)
                    .and_then(|currency| Money::parse(&entry.balance_after, currency))
                    .ok()?;
                Some(Point {
                    minor: amount.minor(),
                    label: money(&entry.balance_after, &entry.currency),
                    at: entry.created_at,
                })
            })
            .collect::<Vec<_>>(),
    );
    WalletCard {
        balance: money(&wallet.balance, &currency),
        held: money(&wallet.held, &currency),
        available: money(&wallet.available, &currency),
        frozen: wallet.frozen,
        freezes: wallet
            .freezes
            .into_iter()
            .map(|freeze| FreezeRow {
                source: page::wire_name(&freeze.source),
                reason: freeze.reason,
                actor: freeze.actor,
                since: page::time(freeze.frozen_at),
            })
            .collect(),
        entries: entries
            .iter()
            .take(TABLE_ENTRIES)
            .map(|entry| EntryRow {
                time: page::time(entry.created_at),
                kind: page::wire_name(&entry.kind),
                amount: money(&entry.amount, &entry.currency),
                change: money(&entry.balance_change, &entry.currency),
                balance_after: money(&entry.balance_after, &entry.currency),
                reference: entry.reference.clone(),
                reason: entry.reason.clone(),
            })
            .collect(),
        chart,
        currency,
    }
}

/// One entry on the chart: the balance after it, as a number to place and as the API wrote it.
#[derive(Debug, Clone)]
struct Point {
    minor: i64,
    label: String,
    at: DateTime<Utc>,
}

/// The balance chart: a polyline in a fixed view box, with the extremes and the first and last
/// dates as labels.
#[derive(Debug, Clone, PartialEq)]
struct Chart {
    /// `x,y` pairs for the polyline's `points`.
    points: String,
    max_label: String,
    min_label: String,
    first_date: String,
    last_date: String,
    count: usize,
}

/// The plot area inside the view box `0 0 640 240`; the margins hold the labels.
const LEFT: f64 = 100.0;
const RIGHT: f64 = 620.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 200.0;

fn chart(points: &[Point]) -> Option<Chart> {
    let first = points.first()?;
    let last = points.last()?;
    let max = points.iter().max_by_key(|p| p.minor)?;
    let min = points.iter().min_by_key(|p| p.minor)?;
    // Only for placing points on screen: the figures shown are the API's strings.
    let span = (max.minor as f64) - (min.minor as f64);
    let steps = points.len().saturating_sub(1);
    let placed: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let x = if steps == 0 {
                (LEFT + RIGHT) / 2.0
            } else {
                LEFT + (RIGHT - LEFT) * index as f64 / steps as f64
            };
            let y = if span == 0.0 {
                (TOP + BOTTOM) / 2.0
            } else {
                BOTTOM - (BOTTOM - TOP) * ((point.minor as f64) - (min.minor as f64)) / span
            };
            format!("{x:.1},{y:.1}")
        })
        .collect();
    Some(Chart {
        points: placed.join(" "),
        max_label: max.label.clone(),
        min_label: min.label.clone(),
        first_date: super::day(first.at),
        last_date: super::day(last.at),
        count: points.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(minor: i64, day: u32) -> Point {
        Point {
            minor,
            label: format!("{minor} USD"),
            at: DateTime::parse_from_rfc3339(&format!("2026-12-{day:02}T10:00:00Z"))
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn no_entries_draw_no_chart() {
        assert!(chart(&[]).is_none());
    }

    #[test]
    fn the_line_spans_the_plot_from_first_to_last_with_extremes_labelled() {
        let drawn = chart(&[point(0, 1), point(1000, 2), point(500, 3)]).unwrap();
        assert_eq!(drawn.points, "100.0,200.0 360.0,20.0 620.0,110.0");
        assert_eq!(drawn.max_label, "1000 USD");
        assert_eq!(drawn.min_label, "0 USD");
        assert_eq!(drawn.first_date, "2026-12-01");
        assert_eq!(drawn.last_date, "2026-12-03");
        assert_eq!(drawn.count, 3);
    }

    #[test]
    fn a_flat_or_single_balance_sits_in_the_middle() {
        assert_eq!(chart(&[point(7, 1)]).unwrap().points, "360.0,110.0");
        assert_eq!(
            chart(&[point(7, 1), point(7, 2)]).unwrap().points,
            "100.0,110.0 620.0,110.0"
        );
    }
}
