//! The refs SBOM scanners match on, from a derivation's `meta.identifiers`: CPE 2.3 strings
//! and purls, checked against their grammars before they are carried; and the `pkg:nix` purl of
//! every store path.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{MAX_IDENTIFIER_BYTES, MAX_IDENTIFIER_REFS};
use crate::nix::closure::StorePath;
use crate::nix::facts::Identifiers;

/// The refs scanners match on, from `meta.identifiers`: each CPE (`cpe`, then the guesses of
/// `possibleCPEs`, said to be guesses) as a `SECURITY` `cpe23Type` ref, each purl as a
/// `PACKAGE-MANAGER` one; in the order given, without repeats (nor `own_purl` again), at most
/// `MAX_IDENTIFIER_REFS` of each. A value left out is a warning naming `path`.
pub(super) fn identifier_refs(
    path: &StorePath,
    identifiers: &Identifiers,
    own_purl: &str,
    warnings: &mut Vec<String>,
) -> Vec<Value> {
    let mut warn = |what: String| {
        warnings.push(format!(
            "SBOM: {}: meta.identifiers {what} left out",
            path.name()
        ))
    };
    let guesses = identifiers.possible_cpes.iter().map(|c| (c, true));
    let cpes = identifiers.cpe.iter().map(|c| (c, false)).chain(guesses);
    let mut refs = Vec::new();
    let mut seen_cpes: BTreeSet<&str> = BTreeSet::new();
    let mut carried = 0;
    for (cpe, guessed) in cpes {
        if !seen_cpes.insert(cpe) {
            continue;
        }
        if !is_cpe23(cpe) {
            warn(format!("{}, not a CPE 2.3 string,", shown(cpe)));
            continue;
        }
        if carried == MAX_IDENTIFIER_REFS {
            warn(format!("{}, over {MAX_IDENTIFIER_REFS} CPEs,", shown(cpe)));
            continue;
        }
        carried += 1;
        let mut reference = json!({
            "referenceCategory": "SECURITY",
            "referenceType": "cpe23Type",
            "referenceLocator": cpe,
        });
        if guessed {
            reference["comment"] = json!(GUESSED_CPE);
        }
        refs.push(reference);
    }
    let mut seen_purls: BTreeSet<&str> = BTreeSet::from([own_purl]);
    carried = 0;
    for purl in &identifiers.purls {
        if !seen_purls.insert(purl) {
            continue;
        }
        if !is_purl(purl) {
            warn(format!("{}, not a purl,", shown(purl)));
            continue;
        }
        if carried == MAX_IDENTIFIER_REFS {
            warn(format!(
                "{}, over {MAX_IDENTIFIER_REFS} purls,",
                shown(purl)
            ));
            continue;
        }
        carried += 1;
        refs.push(json!({
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }));
    }
    refs
}

/// The comment of a CPE that only `possibleCPEs` gives.
pub(super) const GUESSED_CPE: &str = "A guess of nixpkgs (meta.identifiers.possibleCPEs): the package does not give every part of its CPE.";

/// A value from the builder as a warning shows it: quoted, escaped, cut after 80 characters.
pub(super) fn shown(value: &str) -> String {
    let cut: String = value.chars().take(80).collect();
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// A CPE 2.3 formatted string as SPDX's `cpe23Type` pattern takes it (NISTIR 7695's formatted
/// string binding): `cpe:2.3:` then 11 components split at unescaped colons: the part (`a`, `h`,
/// `o`, `*` or `-`), five values, the language (a tag such as `en-us`, or `*`/`-`), four values.
pub(super) fn is_cpe23(cpe: &str) -> bool {
    if cpe.len() > MAX_IDENTIFIER_BYTES {
        return false;
    }
    let Some(rest) = cpe.strip_prefix("cpe:2.3:") else {
        return false;
    };
    let Some(components) = cpe_components(rest) else {
        return false;
    };
    let [part, values @ .., other] = components.as_slice() else {
        return false;
    };
    components.len() == 11
        && matches!(
            part.as_slice(),
            [Cpe::Raw(b'a' | b'h' | b'o' | b'*' | b'-')]
        )
        && values.iter().enumerate().all(|(i, value)| {
            if i == 5 {
                is_cpe_language(value)
            } else {
                is_cpe_value(value)
            }
        })
        && is_cpe_value(other)
}

/// One character of a CPE component: as written, or escaped with a backslash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cpe {
    Raw(u8),
    Escaped(u8),
}

/// The components of a CPE's text after `cpe:2.3:`, each as its characters; nothing for a text
/// that is not ASCII or ends in a lone backslash.
pub(super) fn cpe_components(text: &str) -> Option<Vec<Vec<Cpe>>> {
    let mut components = vec![Vec::new()];
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        let current = components.last_mut()?;
        match b {
            b':' => components.push(Vec::new()),
            b'\\' => current.push(Cpe::Escaped(bytes.next()?)),
            _ if b.is_ascii() => current.push(Cpe::Raw(b)),
            _ => return None,
        }
    }
    Some(components)
}

/// A value (avstring): `*` or `-` alone, or one or more plain characters (letters, digits, `-`,
/// `.`, `_`, or escaped punctuation) with a leading and a trailing run of `?` or single `*`.
pub(super) fn is_cpe_value(value: &[Cpe]) -> bool {
    if let [Cpe::Raw(b'*' | b'-')] = value {
        return true;
    }
    let start = match value {
        [Cpe::Raw(b'*'), ..] => 1,
        _ => value.iter().take_while(|c| **c == Cpe::Raw(b'?')).count(),
    };
    let value = &value[start..];
    let end = match value {
        [.., Cpe::Raw(b'*')] => value.len() - 1,
        _ => {
            value.len()
                - value
                    .iter()
                    .rev()
                    .take_while(|c| **c == Cpe::Raw(b'?'))
                    .count()
        }
    };
    let body = &value[..end];
    !body.is_empty()
        && body.iter().all(|c| match *c {
            Cpe::Raw(b) => b.is_ascii_alphanumeric() || b"-._".contains(&b),
            Cpe::Escaped(b) => b"\\*?!\"#$%&'()+,/:;<=>@[]^`{|}~".contains(&b),
        })
}

/// The language component: `*`, `-`, or a tag of 2 or 3 letters with an optional `-` and a
/// region of 2 letters or 3 digits.
pub(super) fn is_cpe_language(value: &[Cpe]) -> bool {
    let raw: Option<Vec<u8>> = value
        .iter()
        .map(|c| match c {
            Cpe::Raw(b) => Some(*b),
            Cpe::Escaped(_) => None,
        })
        .collect();
    let Some(raw) = raw else { return false };
    if raw == b"*" || raw == b"-" {
        return true;
    }
    let (language, region) = match raw.iter().position(|b| *b == b'-') {
        Some(dash) => (&raw[..dash], Some(&raw[dash + 1..])),
        None => (&raw[..], None),
    };
    (2..=3).contains(&language.len())
        && language.iter().all(u8::is_ascii_alphabetic)
        && region.is_none_or(|r| {
            (r.len() == 2 && r.iter().all(u8::is_ascii_alphabetic))
                || (r.len() == 3 && r.iter().all(u8::is_ascii_digit))
        })
}

/// A package URL as package-url's grammar has it, of sane length: `pkg:`, a type (a letter,
/// then letters, digits, `.`, `+` or `-`), `/`, a name (after any namespace) that is not empty;
/// printable ASCII throughout (anything else is percent-encoded in a purl).
pub(super) fn is_purl(purl: &str) -> bool {
    let Some((kind, path)) = purl
        .strip_prefix("pkg:")
        .and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let name = path
        .split('@')
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    purl.len() <= MAX_IDENTIFIER_BYTES
        && purl.bytes().all(|b| b.is_ascii_graphic())
        && kind.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+-".contains(&b))
        && !name.is_empty()
}

/// `pkg:nix/NAME@VERSION?system=SYSTEM`, percent-encoded as package-url requires.
pub(super) fn purl(name: &str, version: &str, system: Option<&str>) -> String {
    let name = if name.is_empty() { "unnamed" } else { name };
    let mut purl = format!("pkg:nix/{}", percent_encode(name));
    if !version.is_empty() {
        purl.push('@');
        purl.push_str(&percent_encode(version));
    }
    if let Some(system) = system {
        purl.push_str("?system=");
        purl.push_str(&percent_encode(system));
    }
    purl
}

pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
