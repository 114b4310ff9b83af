//! `webhook-tool`: local provider webhooks (docs/local-webhooks.md). Arguments, configuration
//! from the environment and the output; the work is `devhooks`'.

mod args;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use devhooks::deliver::{Answer, Delivery, Signer, webhook_url};
use devhooks::events::{self, CATALOGUE, Provider};
use devhooks::replay::AdminApi;
use devhooks::{LocalSecrets, Source};

use crate::args::{Command, Common, Trigger};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("webhook-tool: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the receiver accepted what was sent.
async fn run(args: &[String]) -> anyhow::Result<bool> {
    match args::parse(args)? {
        Command::Help => {
            println!("{}", args::USAGE);
            Ok(true)
        }
        Command::List => {
            list();
            Ok(true)
        }
        Command::Trigger(trigger) => self::trigger(*trigger).await,
        Command::Replay { inbox_id, common } => replay(&inbox_id, &common).await,
    }
}

fn list() {
    for provider in Provider::ALL {
        println!("{provider}");
        for known in CATALOGUE.iter().filter(|known| known.provider == provider) {
            println!(
                "  {:<24}{:<40}{}",
                known.event.as_str(),
                known.provider_type,
                known.needs
            );
        }
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("HTTP client")
}

async fn trigger(trigger: Trigger) -> anyhow::Result<bool> {
    let now = trigger.params.at;
    let signer = Signer::new(LocalSecrets::from_env(), &trigger.common.data_dir);
    let event = events::build(
        trigger.provider,
        trigger.event,
        &trigger.params,
        &signer.secrets,
    )?;
    println!("{} {} {}", event.provider, event.provider_type, event.id);
    if let Some(subscription) = &event.subscription {
        println!("  subscription {subscription}");
    }
    if let Some(payment) = &event.payment {
        println!("  payment      {payment}");
    }
    let delivery = signer.deliver(&event, &trigger.common.target, now).await?;
    send(&signer, &delivery).await
}

async fn replay(inbox_id: &str, common: &Common) -> anyhow::Result<bool> {
    let now = Utc::now();
    let signer = Signer::new(LocalSecrets::from_env(), &common.data_dir);
    let api = AdminApi::new(
        common.api.as_deref().unwrap_or(&common.target),
        admin_token(Path::new(&common.data_dir))?,
        client()?,
    );
    let stored = api.delivery(inbox_id).await?;
    println!(
        "{} {} {} (inbox {}, {})",
        stored.provider, stored.event_type, stored.delivery_id, stored.inbox_id, stored.status
    );
    let delivery = signer
        .sign(
            stored.provider,
            stored.content_type(),
            stored.body,
            webhook_url(&common.target, stored.provider),
            now,
        )
        .await?;
    send(&signer, &delivery).await
}

/// Posts and prints both sides.
async fn send(signer: &Signer, delivery: &Delivery) -> anyhow::Result<bool> {
    println!(
        "  -> POST {} (signed with {})",
        delivery.url,
        signed_with(&signer.secrets, delivery.provider)
    );
    let answer: Answer = devhooks::deliver::post(&client()?, delivery).await?;
    println!("  <- {} {}", answer.status, answer.body.trim());
    Ok(answer.accepted())
}

fn signed_with(secrets: &LocalSecrets, provider: Provider) -> &'static str {
    let (source, variables) = match provider {
        Provider::Stripe => (secrets.stripe, "STRIPE_WEBHOOK_SECRETS"),
        Provider::Paypal => (secrets.paypal, "PAYPAL_WEBHOOK_IDS and the development CA"),
        Provider::Payhere => (secrets.payhere, "PAYHERE_MERCHANT_SECRET"),
        Provider::Twilio => (
            secrets.twilio,
            "TWILIO_AUTH_TOKEN (a subaccount's token read from Twilio with it)",
        ),
    };
    match (source, provider) {
        (Source::Environment, _) => variables,
        (Source::Development, Provider::Paypal) => {
            "the development webhook id and the development CA"
        }
        (Source::Development, Provider::Twilio) => "the development auth token",
        (Source::Development, _) => "the development secret",
    }
}

/// `ADMIN_TOKEN`, else the token the api's development mode wrote.
fn admin_token(data_dir: &Path) -> anyhow::Result<String> {
    if let Some(token) = std::env::var("ADMIN_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
    {
        return Ok(token);
    }
    let path: PathBuf = data_dir.join("admin-token");
    let token = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no ADMIN_TOKEN, and {} cannot be read (the api's development mode writes it)",
            path.display()
        )
    })?;
    Ok(token.trim().to_owned())
}
