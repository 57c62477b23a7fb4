//! The users of `dosesim serve`, kept as entries of the ledger's `user` book like the rest
//! of the record: a user added is an entry (name, role, the argon2id hash of the password,
//! full name), a new role or password is a correction of it with its reason, and a user
//! who leaves is voided with the reason. Who added whom, and when, is in the chain.

use anyhow::Result;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::books::Refused;
use super::entry::{Action, Book, Fields};
use super::{Db, Filter, Head};
use crate::error::{InputError, Problem};

/// What a user may do, checked by the server on every request.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Reads every page; records nothing.
    Viewer,
    /// Enrols patients; records visits, weights, withdrawals and deaths.
    Coordinator,
    /// Records the preparation, check and administration of doses.
    Pharmacist,
    /// Everything a coordinator and a pharmacist may do.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether this role may record what `needed` records (an admin may do all).
    pub fn may(self, needed: Role) -> bool {
        self == needed || self == Role::Admin || needed == Role::Viewer
    }

    /// The roles as a user types them, for messages.
    pub fn names() -> String {
        <Role as strum::VariantNames>::VARIANTS.join(", ")
    }
}

/// A user in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub full_name: String,
    /// The entry in effect for this user (the add, or its latest correction).
    pub entry: i64,
    password_hash: String,
}

impl User {
    /// Whether `password` is this user's (argon2id, in constant time).
    pub fn password_is(&self, password: &str) -> bool {
        verify_password(&self.password_hash, password)
    }
}

/// The fewest characters a password may have.
pub const MIN_PASSWORD: usize = 10;

/// The argon2id hash of `password`, with a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The problems of a new user's name and password, each naming `name_field` or
/// `password_field` (a flag on the command line, a form field on a page).
pub fn check_new(
    name: &str,
    password: &str,
    name_field: &str,
    password_field: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
        problems.push(Problem::flag(
            name_field,
            format!(
                "'{name}' cannot be a user name: use 1 to 64 letters, digits, '.', '_' or '-' (liwei, chen.jing)"
            ),
        ));
    }
    if password.chars().count() < MIN_PASSWORD {
        problems.push(Problem::flag(
            password_field,
            format!("a password has at least {MIN_PASSWORD} characters"),
        ));
    }
    problems
}

/// Adds a user with `role`, entered `by` someone; refused when the name is taken (by a
/// user in effect or one disabled: a name is never given to another person).
pub fn add(
    db: &mut Db,
    name: &str,
    role: Role,
    full_name: &str,
    password: &str,
    by: &str,
) -> Result<(i64, Head), Refused> {
    let mut problems = check_new(name, password, "NAME", "--password-file");
    if every_name(db)?.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        problems.push(Problem::flag(
            "NAME",
            format!("there is a user {name} already (a user name is never given to another person, even after that user was disabled)"),
        ));
    }
    InputError::check(problems)?;
    let hash = hash_password(password)?;
    let fields = Fields {
        book: Some(Book::User),
        action: Some(Action::Add),
        patient_id: name.to_string(),
        values: [
            role.as_str().to_string(),
            hash,
            full_name.trim().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ],
        source: "user add".to_string(),
        ..Fields::default()
    };
    let (id, head) = db.write(by, |w| w.append(fields))?;
    Ok((id, head))
}

/// A new password (or role) for user `name`: a correction of their entry, with the
/// reason. Their sessions end at their next form.
pub fn change(
    db: &mut Db,
    name: &str,
    role: Option<Role>,
    password: Option<&str>,
    reason: &str,
    by: &str,
) -> Result<(i64, Head), Refused> {
    let mut problems = Vec::new();
    if let Some(p) = password {
        problems.extend(check_new(name, p, "NAME", "--password-file"));
    }
    let user = in_effect(db, name, reason, &mut problems)?;
    InputError::check(problems)?;
    let user = user.expect("checked above");
    let hash = match password {
        Some(p) => hash_password(p)?,
        None => user.password_hash.clone(),
    };
    let fields = Fields {
        book: Some(Book::User),
        action: Some(Action::Correct),
        supersedes: Some(user.entry),
        patient_id: user.name.clone(),
        values: [
            role.unwrap_or(user.role).as_str().to_string(),
            hash,
            user.full_name.clone(),
            String::new(),
            String::new(),
            String::new(),
        ],
        reason: reason.trim().to_string(),
        source: "user change".to_string(),
        ..Fields::default()
    };
    Ok(db.write(by, |w| w.append(fields))?)
}

/// Disables user `name` (a void of their entry, with the reason): they can no longer sign
/// in, and a form they post after it is refused. The name is never given to anyone else.
pub fn disable(db: &mut Db, name: &str, reason: &str, by: &str) -> Result<(i64, Head), Refused> {
    let mut problems = Vec::new();
    let user = in_effect(db, name, reason, &mut problems)?;
    InputError::check(problems)?;
    let user = user.expect("checked above");
    let fields = Fields {
        book: Some(Book::User),
        action: Some(Action::Void),
        supersedes: Some(user.entry),
        patient_id: user.name.clone(),
        reason: reason.trim().to_string(),
        source: "user disable".to_string(),
        ..Fields::default()
    };
    Ok(db.write(by, |w| w.append(fields))?)
}

/// The user in effect named `name`, with a problem for a missing reason or user.
fn in_effect(
    db: &mut Db,
    name: &str,
    reason: &str,
    problems: &mut Vec<Problem>,
) -> Result<Option<User>> {
    if reason.trim().is_empty() {
        problems.push(Problem::flag(
            "--reason",
            "say why (the change is kept with its reason, who made it and when)",
        ));
    }
    let user = find(db, name)?;
    if user.is_none() {
        problems.push(Problem::flag(
            "NAME",
            format!("there is no user {name} in effect (dosesim user list shows them)"),
        ));
    }
    Ok(user)
}

/// Every user in effect, by name: each correction in place of what it corrects, each
/// voided user left out.
pub fn all(db: &mut Db) -> Result<Vec<User>> {
    let mut entries = Vec::new();
    db.read(|s| {
        s.scan(&Filter::default().book(Book::User), &mut |e| {
            entries.push(e.clone());
            Ok(())
        })
    })?;
    let superseded: std::collections::HashSet<i64> =
        entries.iter().filter_map(|e| e.fields.supersedes).collect();
    let mut users: Vec<User> = entries
        .iter()
        .filter(|e| !superseded.contains(&e.id) && e.fields.action() != Action::Void)
        .filter_map(|e| {
            Some(User {
                name: e.fields.patient_id.clone(),
                role: e.fields.values[0].parse().ok()?,
                password_hash: e.fields.values[1].clone(),
                full_name: e.fields.values[2].clone(),
                entry: e.id,
            })
        })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// The user in effect named `name` (letter case as added), if there is one.
pub fn find(db: &mut Db, name: &str) -> Result<Option<User>> {
    Ok(all(db)?.into_iter().find(|u| u.name == name))
}

/// Every name ever given to a user, disabled ones included.
fn every_name(db: &mut Db) -> Result<Vec<String>> {
    let mut names = Vec::new();
    db.read(|s| {
        s.scan(&Filter::default().book(Book::User), &mut |e| {
            names.push(e.fields.patient_id.clone());
            Ok(())
        })
    })?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_no_other() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterx"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_new("li.wei", "0123456789", "NAME", "--password-file").is_empty());
        let p = check_new("li wei", "short", "NAME", "--password-file");
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn users_are_added_corrected_by_nothing_else_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let at = super::super::Location::Sqlite(dir.path().join("u.db"));
        let mut db = Db::open(&at, super::super::Open::OrCreate).unwrap();
        add(
            &mut db,
            "liwei",
            Role::Pharmacist,
            "Li Wei",
            "0123456789ab",
            "admin",
        )
        .unwrap();
        let again = add(&mut db, "LiWei", Role::Viewer, "", "0123456789ab", "admin");
        assert!(again.is_err());
        let u = find(&mut db, "liwei").unwrap().unwrap();
        assert_eq!(u.role, Role::Pharmacist);
        assert!(u.password_is("0123456789ab"));
        assert!(!u.password_is("0123456789ac"));
        assert_eq!(all(&mut db).unwrap().len(), 1);
        change(
            &mut db,
            "liwei",
            Some(Role::Admin),
            Some("another-password"),
            "promoted",
            "admin",
        )
        .unwrap();
        let u = find(&mut db, "liwei").unwrap().unwrap();
        assert_eq!(u.role, Role::Admin);
        assert!(u.password_is("another-password"));
        assert!(
            disable(&mut db, "liwei", "", "admin").is_err(),
            "a reason is needed"
        );
        disable(&mut db, "liwei", "left the site", "admin").unwrap();
        assert!(find(&mut db, "liwei").unwrap().is_none());
        assert!(add(&mut db, "liwei", Role::Viewer, "", "0123456789ab", "admin").is_err());
    }

    #[test]
    fn an_admin_may_do_what_every_role_may() {
        assert!(Role::Admin.may(Role::Pharmacist));
        assert!(Role::Admin.may(Role::Coordinator));
        assert!(!Role::Coordinator.may(Role::Pharmacist));
        assert!(!Role::Viewer.may(Role::Coordinator));
        assert!(Role::Viewer.may(Role::Viewer));
    }
}

/// Whose part an entry with these fields is, in `dosesim serve`'s roles: the roster, a
/// weight, a withdrawal, a death and a visit held or missed are the coordinator's; a dose
/// given or missed and a preparation step are the pharmacist's; users are the admin's. A
/// given or missed row naming no dose of the trial is the coordinator's (the record's
/// reader then says what is wrong with it).
pub fn whose(trial: &crate::model::Trial, book: super::Book, values: &[String; 6]) -> Role {
    use super::Book;
    use crate::recorded::RecordKind;
    match book {
        Book::Roster => Role::Coordinator,
        Book::Prep => Role::Pharmacist,
        Book::Record => match RecordKind::parse(values[1].trim()) {
            Some(RecordKind::Given | RecordKind::Missed) if is_dose(trial, &values[2]) => {
                Role::Pharmacist
            }
            _ => Role::Coordinator,
        },
        Book::User | Book::Database => Role::Admin,
    }
}

/// Whether `component` names a dosed component of one of the trial's arms.
fn is_dose(trial: &crate::model::Trial, component: &str) -> bool {
    let c = component.trim();
    trial
        .arms
        .iter()
        .flat_map(|a| &a.components)
        .any(|x| x.id.eq_ignore_ascii_case(c))
}

#[cfg(test)]
mod whose_tests {
    use super::*;
    use crate::db::Book;
    use std::path::Path;

    fn row(record: &str, component: &str) -> [String; 6] {
        let mut v: [String; 6] = Default::default();
        v[1] = record.into();
        v[2] = component.into();
        v
    }

    /// A dose is the pharmacist's; a visit, a weight, an end and the roster the
    /// coordinator's.
    #[test]
    fn doses_are_the_pharmacists_and_the_rest_the_coordinators() {
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        let dose = trial
            .arms
            .iter()
            .flat_map(|a| &a.components)
            .next()
            .unwrap()
            .id
            .clone();
        assert_eq!(
            whose(&trial, Book::Record, &row("given", &dose)),
            Role::Pharmacist
        );
        assert_eq!(
            whose(&trial, Book::Record, &row("missed", &dose)),
            Role::Pharmacist
        );
        assert_eq!(
            whose(&trial, Book::Record, &row("weight", "")),
            Role::Coordinator
        );
        assert_eq!(
            whose(&trial, Book::Record, &row("died", "")),
            Role::Coordinator
        );
        assert_eq!(whose(&trial, Book::Roster, &row("", "")), Role::Coordinator);
        assert_eq!(
            whose(&trial, Book::Prep, &row("prepared", &dose)),
            Role::Pharmacist
        );
        if let Some(v) = trial.arms.iter().flat_map(|a| &a.visits).next() {
            assert_eq!(
                whose(&trial, Book::Record, &row("given", &v.id)),
                Role::Coordinator
            );
        }
    }
}
