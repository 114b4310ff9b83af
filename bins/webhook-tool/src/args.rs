//! The command line: `trigger`, `replay`, `list`, `help`.

use anyhow::{Context as _, bail};
use chrono::Utc;
use devhooks::events::{EventName, Params, Provider};

pub const USAGE: &str = "\
webhook-tool: local provider webhooks, signed as the provider signs them (docs/local-webhooks.md)

USAGE
  webhook-tool trigger <provider> <event> [options]   build, sign and post one event
  webhook-tool replay <inbox id> [options]            post a stored delivery again, signed anew
  webhook-tool list                                   the events each provider sends

TRIGGER OPTIONS
  --org <uuid>             our organization, as the provider echoes it back
  --subscription <id>      the provider's subscription id (sub_..., I-..., PayHere's number)
  --order <order id>       PayHere: the signed order id (SUB-<org>.<nonce>, TOPUP-<org>.<nonce>)
  --amount <10.00>         exact, in the currency's decimals
  --currency <USD>         ISO 4217
  --payment <id>           the payment it is about (a top-up to refund or dispute)
  --id <event id>          the provider's event id (default: a fresh one; repeat it to see a duplicate)
  --account <AC...>        Twilio: the brand subaccount the message went out through (default: the
                           parent, TWILIO_ACCOUNT_SID); a subaccount's token is read from Twilio
  --campaign <id>          Twilio: the campaign and recipient the dispatcher put in the callback URL
  --recipient <id>
  --message <SM...>        Twilio: the message SID (default: a fresh one)
  --status <status>        Twilio: delivered (default), undelivered, failed, sent ...
  --url <url>              Twilio: post to and sign exactly this URL instead of the receiver's
                           /webhooks/twilio/messages (signed as TWILIO_STATUS_CALLBACK_URL when set)

COMMON OPTIONS
  --target <url>           the receiver (default http://127.0.0.1:8080, the api's development mode;
                           the webhook-receiver listens on http://127.0.0.1:8081)
  --api <url>              replay: the api whose admin routes hold the inbox (default: --target)
  --data-dir <dir>         the development data directory (default .data)

Secrets come from the variables the receiver reads (STRIPE_WEBHOOK_SECRETS, PAYHERE_MERCHANT_ID and
PAYHERE_MERCHANT_SECRET, PAYPAL_WEBHOOK_IDS, TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, with
TWILIO_STATUS_CALLBACK_URL and TWILIO_BASE_URL), or the development defaults when unset; replay
reads ADMIN_TOKEN, else <data-dir>/admin-token.
Exit status: 0 when the receiver answered 2xx, 1 when it refused, 2 on any other error.";

pub const DEFAULT_TARGET: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone)]
pub enum Command {
    Trigger(Box<Trigger>),
    Replay { inbox_id: String, common: Common },
    List,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub target: String,
    pub api: Option<String>,
    pub data_dir: String,
}

#[derive(Debug, Clone)]
pub struct Trigger {
    pub provider: Provider,
    pub event: EventName,
    /// What the event is built from; its time is when the command was parsed.
    pub params: Params,
    pub common: Common,
}

pub fn parse(args: &[String]) -> anyhow::Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let (positional, options) = split(rest)?;
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "list" => {
            expect_none(&positional, &options, "list")?;
            Ok(Command::List)
        }
        "trigger" => {
            let [provider, event] = positional.as_slice() else {
                bail!("usage: webhook-tool trigger <provider> <event> [options]");
            };
            let provider = Provider::parse(provider).with_context(|| {
                format!("unknown provider {provider}: paypal, stripe, payhere or twilio")
            })?;
            let event = EventName::parse(event).with_context(|| {
                format!("unknown event {event} (`webhook-tool list` shows them)")
            })?;
            let mut options = Options(options);
            let params = Params {
                event_id: options.take("--id"),
                organization: options.take("--org"),
                subscription: options.take("--subscription"),
                order: options.take("--order"),
                amount: options.take("--amount"),
                currency: options.take("--currency"),
                payment: options.take("--payment"),
                status: options.take("--status"),
                account: options.take("--account"),
                campaign: options.take("--campaign"),
                recipient: options.take("--recipient"),
                message: options.take("--message"),
                url: options.take("--url"),
                ..Params::new(Utc::now())
            };
            let trigger = Trigger {
                provider,
                event,
                params,
                common: options.common(),
            };
            options.finish()?;
            Ok(Command::Trigger(Box::new(trigger)))
        }
        "replay" => {
            let [inbox_id] = positional.as_slice() else {
                bail!("usage: webhook-tool replay <inbox id> [options]");
            };
            let mut options = Options(options);
            let common = options.common();
            options.finish()?;
            Ok(Command::Replay {
                inbox_id: inbox_id.clone(),
                common,
            })
        }
        other => bail!("unknown command {other}: trigger, replay, list or help"),
    }
}

/// `--name value` pairs, in order.
type Pairs = Vec<(String, String)>;

/// Positional arguments and `--name value` pairs.
fn split(args: &[String]) -> anyhow::Result<(Vec<String>, Pairs)> {
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .with_context(|| format!("--{name} needs a value"))?;
                    (name.to_owned(), value.clone())
                }
            };
            options.push((format!("--{name}"), value));
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, options))
}

fn expect_none(
    positional: &[String],
    options: &[(String, String)],
    command: &str,
) -> anyhow::Result<()> {
    if let Some(extra) = positional.first().or(options.first().map(|(name, _)| name)) {
        bail!("{command} takes no argument ({extra})");
    }
    Ok(())
}

struct Options(Pairs);

impl Options {
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(option, _)| option == name)?;
        Some(self.0.remove(at).1)
    }

    fn common(&mut self) -> Common {
        Common {
            target: self
                .take("--target")
                .unwrap_or_else(|| DEFAULT_TARGET.to_owned()),
            api: self.take("--api"),
            data_dir: self
                .take("--data-dir")
                .unwrap_or_else(|| devhooks::dev::DATA_DIR.to_owned()),
        }
    }

    /// Refuses what was not taken (an unknown or repeated option).
    fn finish(self) -> anyhow::Result<()> {
        match self.0.first() {
            Some((name, _)) => bail!("unknown or repeated option {name} (see webhook-tool help)"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_trigger_takes_its_options_in_either_form() {
        let Command::Trigger(trigger) = parse(&args(
            "trigger stripe payment-failed --org o-1 --subscription=sub_1 --target http://h:1",
        ))
        .unwrap() else {
            panic!("not a trigger");
        };
        assert_eq!(trigger.provider, Provider::Stripe);
        assert_eq!(trigger.event, EventName::PaymentFailed);
        assert_eq!(trigger.params.organization.as_deref(), Some("o-1"));
        assert_eq!(trigger.params.subscription.as_deref(), Some("sub_1"));
        assert_eq!(trigger.common.target, "http://h:1");
        assert_eq!(trigger.common.data_dir, ".data");
    }

    #[test]
    fn mistakes_are_refused_with_what_to_do() {
        for (line, says) in [
            ("trigger stripe", "usage"),
            ("trigger ebay payment-failed", "unknown provider"),
            ("trigger stripe paid", "unknown event"),
            ("trigger stripe payment-failed --org", "needs a value"),
            (
                "trigger stripe payment-failed --colour red",
                "unknown or repeated option --colour",
            ),
            ("trigger stripe payment-failed --org a --org b", "repeated"),
            ("replay", "usage"),
            ("list --all x", "takes no argument"),
            ("send", "unknown command"),
        ] {
            let error = parse(&args(line)).unwrap_err().to_string();
            assert!(error.contains(says), "{line}: {error}");
        }
        assert!(matches!(parse(&[]).unwrap(), Command::Help));
    }
}
