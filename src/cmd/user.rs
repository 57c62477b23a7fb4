//! `dosesim user add|list`: the users of `dosesim serve` ([`dosesim::db::users`]), kept in
//! the database as entries of its chain.

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::{UserAddArgs, UserChangeArgs, UserCommand, UserDisableArgs, UserListArgs};
use dosesim::db::Open;
use dosesim::db::users::{self, Role};
use dosesim::error::{InputError, Problem};

pub fn run(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add(a) => add(a),
        UserCommand::List(a) => list(a),
        UserCommand::Change(a) => change(a),
        UserCommand::Disable(a) => disable(a),
    }
}

fn change(a: UserChangeArgs) -> Result<()> {
    let role = a.role.as_deref().map(parse_role).transpose()?;
    let password = if a.password || a.password_file.is_some() {
        Some(password(&a.name, a.password_file.as_deref())?)
    } else {
        None
    };
    if role.is_none() && password.is_none() {
        return Err(InputError::one(Problem::flag(
            "--role",
            "give a new --role, or --password (or --password-file) for a new password",
        ))
        .into());
    }
    let by = super::ledger::entered_by(&a.by)?;
    let mut db = super::ledger::open(&a.db, Open::Existing)?;
    let (id, head) = users::change(
        &mut db,
        a.name.trim(),
        role,
        password.as_deref(),
        &a.reason,
        &by,
    )
    .map_err(dosesim::db::books::Refused::into_anyhow)?;
    println!(
        "entry {id}: user {} changed (reason: {}), entered by {by}; chain head {}",
        a.name.trim(),
        a.reason.trim(),
        super::ledger::head_words(&head)
    );
    Ok(())
}

fn disable(a: UserDisableArgs) -> Result<()> {
    let by = super::ledger::entered_by(&a.by)?;
    let mut db = super::ledger::open(&a.db, Open::Existing)?;
    let (id, head) = users::disable(&mut db, a.name.trim(), &a.reason, &by)
        .map_err(dosesim::db::books::Refused::into_anyhow)?;
    println!(
        "entry {id}: user {} disabled (reason: {}), entered by {by}; chain head {}",
        a.name.trim(),
        a.reason.trim(),
        super::ledger::head_words(&head)
    );
    Ok(())
}

fn parse_role(s: &str) -> Result<Role, InputError> {
    s.parse().map_err(|_| {
        InputError::one(Problem::flag(
            "--role",
            format!("give one of {}", Role::names()),
        ))
    })
}

fn add(a: UserAddArgs) -> Result<()> {
    let role = parse_role(&a.role)?;
    let by = super::ledger::entered_by(&a.by)?;
    let password = password(&a.name, a.password_file.as_deref())?;
    let mut db = super::ledger::open(&a.db, Open::OrCreate)?;
    let (id, head) = users::add(&mut db, a.name.trim(), role, &a.full_name, &password, &by)
        .map_err(dosesim::db::books::Refused::into_anyhow)?;
    println!(
        "entry {id}: user {} added as {}, entered by {by}; chain head {}",
        a.name.trim(),
        role.as_str(),
        super::ledger::head_words(&head)
    );
    Ok(())
}

/// The password: the first line of `--password-file`, or typed twice at the terminal
/// (not shown).
fn password(name: &str, file: Option<&std::path::Path>) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            InputError::one(Problem::flag(
                "--password-file",
                format!("cannot read {}: {e}", f.display()),
            ))
        })?;
        let line = text.lines().next().unwrap_or("").to_string();
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        return Err(InputError::one(Problem::flag(
            "--password-file",
            "no terminal to type the password at: give it in a file with --password-file FILE",
        ))
        .into());
    }
    let first = rpassword::prompt_password(format!("Password for {}: ", name.trim()))?;
    let again = rpassword::prompt_password("The same password again: ")?;
    if first != again {
        return Err(InputError::one(Problem::flag(
            "--password-file",
            "the two passwords typed differ: nothing was added",
        ))
        .into());
    }
    Ok(first)
}

fn list(a: UserListArgs) -> Result<()> {
    let mut db = super::ledger::open(&a.db, Open::Existing)?;
    let all = users::all(&mut db)?;
    if all.is_empty() {
        println!("no users yet: add one with dosesim user add NAME --role admin");
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header(["user", "role", "full name", "entry"]);
    for u in &all {
        table.add_row([
            u.name.clone(),
            u.role.as_str().to_string(),
            u.full_name.clone(),
            u.entry.to_string(),
        ]);
    }
    println!("{table}");
    Ok(())
}
