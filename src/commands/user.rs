//! `khlang user`: the users of the SQL service and the web app.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use khlang_query::Role;
use khlang_query::users::{User, Users};

use crate::config::Config;

#[derive(clap::Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user, or replace one of the same name. The password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The area (8-digit code) of a director, or of an analyst limited to one area.
        #[arg(long)]
        area: Option<String>,
        /// The school (10-digit code) of a school user.
        #[arg(long)]
        school: Option<String>,
    },
    /// List the users: name, role, area, school.
    List,
    /// Remove a user.
    Remove { name: String },
    /// Set the last day a user may sign in (YYYY-MM-DD, Thai time), or `none` for no end.
    Expires { name: String, last_day: String },
}

pub async fn run(cfg: &Config, what: UserCmd) -> anyhow::Result<()> {
    let users = Users::new(cfg.open_warehouse().await?);
    match what {
        UserCmd::Add { name, role, area, school } => {
            let password = read_password(&name)?;
            let u = users.add(&name, role, area.as_deref(), school.as_deref(), &password).await?;
            println!("user {} saved: {}{}", u.name, u.role, scope_text(&u));
        }
        UserCmd::List => {
            println!("{:<20} {:<9} {:<9} {:<11} created", "name", "role", "area", "school");
            for u in users.list().await? {
                let created = khlang_warehouse::office::local(u.created_at).format("%Y-%m-%d %H:%M");
                println!("{:<20} {:<9} {:<9} {:<11} {created}", u.name, u.role.as_str(), u.area.as_deref().unwrap_or("-"), u.school.as_deref().unwrap_or("-"));
            }
        }
        UserCmd::Expires { name, last_day } => {
            let day = match last_day.as_str() {
                "none" => None,
                d => Some(chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| anyhow::anyhow!("'{d}' is not a date like 2026-09-30, or none"))?),
            };
            users.set_expiry(&name, day).await?;
            println!("user {name}: {}", day.map_or_else(|| "no end date".to_string(), |d| format!("may sign in until the end of {d}")));
        }
        UserCmd::Remove { name } => {
            if !users.remove(&name).await? {
                anyhow::bail!("there is no user named {name}");
            }
            println!("user {name} removed");
        }
    }
    Ok(())
}

fn scope_text(u: &User) -> String {
    match (&u.area, &u.school) {
        (_, Some(s)) => format!(", school {s}"),
        (Some(a), None) => format!(", area {a}"),
        (None, None) => ", national".into(),
    }
}

/// The new user's password: one line of standard input (typed at a prompt, or piped).
fn read_password(name: &str) -> anyhow::Result<String> {
    use std::io::BufRead as _;
    if std::io::stdin().is_terminal() {
        eprint!("password for {name}: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        anyhow::bail!("no password on standard input: pipe or type one line (at least 8 characters)");
    }
    Ok(password)
}
