//! Arguments and output; two subcommands do not warrant an argument-parsing dependency.

use std::fmt::Write as _;

use db::migrations::MigrationStatus;

pub const USAGE: &str = "\
Usage: migrator <command>

Commands:
  up       apply every pending migration and print the versions applied
  status   list applied and pending migrations

Environment:
  DATABASE_URL      database to migrate; when unset, the development cluster in
                    ./.data/postgres is used (created and started if needed)
  EMBEDDED_PG_PORT  port of that development cluster (default 54320)
  RUST_LOG          log filter for stderr (default info)
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Status,
    Help,
}

pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let command = match args.next().as_deref() {
        None => return Err("missing command".to_owned()),
        Some("up") => Command::Up,
        Some("status") => Command::Status,
        Some("-h" | "--help" | "help") => Command::Help,
        Some(other) => return Err(format!("unknown command {other:?}")),
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(command),
    }
}

pub fn render_applied(applied: &[String]) -> String {
    if applied.is_empty() {
        return "database is up to date\n".to_owned();
    }
    applied
        .iter()
        .map(|version| format!("applied {version}\n"))
        .collect()
}

pub fn render_status(status: &MigrationStatus) -> String {
    let mut out = String::new();
    for version in &status.applied {
        let _ = writeln!(out, "applied {version}");
    }
    for name in &status.pending {
        let _ = writeln!(out, "pending {name}");
    }
    let _ = writeln!(
        out,
        "{} applied, {} pending",
        status.applied.len(),
        status.pending.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Command, String> {
        parse(words.iter().map(|word| (*word).to_owned()))
    }

    #[test]
    fn parses_commands_and_rejects_the_rest() {
        assert_eq!(parse_words(&["up"]), Ok(Command::Up));
        assert_eq!(parse_words(&["status"]), Ok(Command::Status));
        assert_eq!(parse_words(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_words(&["-h"]), Ok(Command::Help));
        assert!(parse_words(&[]).is_err());
        assert!(parse_words(&["down"]).is_err());
        assert!(parse_words(&["up", "--force"]).is_err());
    }

    #[test]
    fn an_empty_run_says_so() {
        assert_eq!(render_applied(&[]), "database is up to date\n");
        assert_eq!(render_applied(&["1".to_owned()]), "applied 1\n");
    }
}
