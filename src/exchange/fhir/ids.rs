//! The ids and references of the resources in a Bundle, all derived from names (trial,
//! patient, component, occurrence), never drawn at random: the same inputs give the same ids.
//!
//! Each resource's `id` is a UUID made from its name, and its entry's `fullUrl` is
//! `urn:uuid:` and that UUID, so every reference inside a Bundle is a `fullUrl` of one of
//! its entries. The UUID is of version 8 (RFC 9562's custom, name-based layout) from the
//! name's SHA-256: a version 5 UUID would need SHA-1, which the program does not carry.
//! A UUID is a valid FHIR id (36 of `[A-Za-z0-9-.]`) whatever characters the names hold
//! (`uc_msc`'s underscore is not one FHIR allows).

use sha2::{Digest, Sha256};

/// The stable URI of dosesim's own extensions and identifier systems.
pub const URN: &str = "urn:dosesim";

/// The URI of the extension that marks a resource (or a value in it) resting on an
/// assumed value: its `valueString` names them and says why.
pub const ASSUMED_URL: &str = "urn:dosesim:assumed";

/// The URI of the extension that numbers a dose in its component's regimen (1, 2, ...),
/// on each date of a Timing's `event` and on each administration or procedure.
pub const OCCURRENCE_URL: &str = "urn:dosesim:occurrence";

/// The URI of the extension on a moved date giving the date the regimen planned.
pub const PLANNED_DATE_URL: &str = "urn:dosesim:planned-date";

/// The URI of the extension holding the volume a plasma exchange processed (a Procedure
/// has no quantity of its own).
pub const VOLUME_URL: &str = "urn:dosesim:volume";

/// A name-based UUID (version 8, from SHA-256) of `parts`, each length-prefixed so that no
/// two lists of parts give the same name.
pub fn uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"dosesim fhir export\0");
    for p in parts {
        h.update(p.len().to_string().as_bytes());
        h.update(b":");
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The `fullUrl` of a resource whose id is `id`, and what a reference to it holds.
pub fn full_url(id: &str) -> String {
    format!("urn:uuid:{id}")
}

/// The identifier system of a kind of dosesim name within a trial
/// (`urn:dosesim:NCT01724398:patient`), each character outside a URN's safe set
/// percent-encoded.
pub fn system(trial: &str, kind: &str) -> String {
    format!("{URN}:{}:{kind}", urn_safe(trial))
}

/// `s` with every character other than ASCII letters, digits and `-._` percent-encoded
/// (as UTF-8 bytes).
fn urn_safe(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_stable_valid_and_tells_names_apart() {
        let a = uuid(&["NCT01724398", "P4398-002", "request", "uc_msc"]);
        assert_eq!(a, uuid(&["NCT01724398", "P4398-002", "request", "uc_msc"]));
        assert_eq!(a.len(), 36);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!("89ab".contains(&a[19..20]), "RFC variant: {a}");
        // Length prefixes: moving a character between parts makes another name.
        assert_ne!(uuid(&["ab", "c"]), uuid(&["a", "bc"]));
        assert_ne!(uuid(&["uc_msc"]), uuid(&["uc-msc"]));
    }

    #[test]
    fn a_system_encodes_what_a_urn_cannot_hold() {
        assert_eq!(
            system("NCT01724398", "patient"),
            "urn:dosesim:NCT01724398:patient"
        );
        assert_eq!(system("a b/c", "lot"), "urn:dosesim:a%20b%2Fc:lot");
    }
}
