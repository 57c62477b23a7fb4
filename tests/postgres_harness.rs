//! The PostgreSQL server the database tests run on (tests/common/postgres.rs): it answers,
//! and every test gets its own empty database, apart from every other test's.

use crate::common::postgres::{connect, fresh_database, server};

/// The tables in the `public` schema of the database at `url`.
fn tables(url: &str) -> Vec<String> {
    connect(url)
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .expect("the table list")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[test]
fn the_server_answers() {
    let row = connect(&server())
        .query_one("SELECT version()", &[])
        .expect("select version()");
    let version: String = row.get(0);
    assert!(version.starts_with("PostgreSQL "), "{version}");
}

#[test]
fn two_fresh_databases_are_distinct_and_empty() {
    let a = fresh_database("harness a");
    let b = fresh_database("harness b");
    assert_ne!(a, b);
    for url in [&a, &b] {
        assert!(
            url.starts_with("postgresql://") || url.starts_with("postgres://"),
            "{url}"
        );
        assert_eq!(tables(url), Vec::<String>::new(), "{url} is not empty");
    }
    let name = |url: &str| -> String {
        connect(url)
            .query_one("SELECT current_database()::text", &[])
            .expect("its name")
            .get(0)
    };
    assert_ne!(name(&a), name(&b));
    assert!(name(&a).contains("harness_a"), "{}", name(&a));
}

#[test]
fn a_table_made_in_one_fresh_database_is_absent_from_another() {
    let a = fresh_database("harness_apart");
    let b = fresh_database("harness_apart");
    let mut client = connect(&a);
    client
        .batch_execute("CREATE TABLE doses (patient_id text, cells bigint)")
        .expect("a table");
    client
        .execute("INSERT INTO doses VALUES ('P001', 100000000)", &[])
        .expect("a row");
    let cells: i64 = client
        .query_one("SELECT cells FROM doses", &[])
        .expect("the row")
        .get(0);
    assert_eq!(cells, 100_000_000);
    assert_eq!(tables(&a), ["doses"]);
    assert_eq!(tables(&b), Vec::<String>::new());
    let absent = connect(&b).query("SELECT 1 FROM doses", &[]);
    assert!(absent.is_err(), "doses is readable in {b}");
}
