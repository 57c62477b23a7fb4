//! `dosesim serve`: the web application ([`dosesim::web`]) on the database the other
//! commands use.

use anyhow::Result;

use crate::cli::ServeArgs;
use dosesim::web::{Config, serve};

pub fn run(args: ServeArgs) -> Result<()> {
    let db = super::ledger::location(&args.db);
    dosesim::scenario::files_in(&args.scenarios)?;
    let label = db.label();
    let config = Config {
        db,
        scenarios: args.scenarios,
        listen: args.listen,
        idle_minutes: args.idle_minutes,
        https: args.https,
    };
    serve(config, |addr| {
        // One line a person reads and a script waits for (tests read the address from it).
        println!("dosesim serve: listening on http://{addr}/ (database {label}); stop with Ctrl-C");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })
}
