//! `dosesim roster import|export`: a trial's roster in the database, put in from a roster
//! file and taken out as one ([`super::ledger`]).

use anyhow::Result;

use crate::cli::RosterCommand;
use dosesim::db::Book;

pub fn run(command: RosterCommand) -> Result<()> {
    match command {
        RosterCommand::Import(a) => super::ledger::import(&a, Book::Roster),
        RosterCommand::Export(a) => super::ledger::export(&a, Book::Roster),
    }
}
