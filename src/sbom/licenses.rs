//! Licence expressions from `meta.license`: SPDX ids as they are, anything else as a
//! `LicenseRef-` the document declares.

use sha2::{Digest, Sha256};

use super::{hex, MAX_LICENSE_IDS, MAX_TEXT, SPDX_LICENSE_IDS};

/// The license expression of `meta.license` (`info.json` joins ids with " AND "): SPDX ids as
/// they are, anything else as a `LicenseRef-` declared in the document, NOASSERTION when there
/// is nothing usable. Returns the expression and the LicenseRefs (id, original text).
pub(super) fn licenses(license: Option<&str>) -> (String, Vec<(String, String)>) {
    let noassertion = || ("NOASSERTION".to_string(), Vec::new());
    let Some(license) = license.filter(|l| !l.trim().is_empty() && l.len() <= 4 * MAX_TEXT) else {
        return noassertion();
    };
    let ids: Vec<&str> = license.split(" AND ").map(str::trim).collect();
    if ids.len() > MAX_LICENSE_IDS || ids.iter().any(|id| id.is_empty()) {
        return noassertion();
    }
    let mut terms = Vec::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    for id in ids {
        if let Some(known) = spdx_license_id(id) {
            terms.push(known.to_string());
            continue;
        }
        let reference = format!("LicenseRef-{}", sanitize_ref(id));
        if !refs.iter().any(|(r, _)| *r == reference) {
            refs.push((reference.clone(), id.chars().take(MAX_TEXT).collect()));
        }
        terms.push(reference);
    }
    terms.dedup();
    (terms.join(" AND "), refs)
}

/// `id` as it is spelled in the SPDX license list (ids match case-insensitively).
pub(super) fn spdx_license_id(id: &str) -> Option<&'static str> {
    SPDX_LICENSE_IDS
        .lines()
        .map(str::trim)
        .find(|known| !known.is_empty() && known.eq_ignore_ascii_case(id))
}

/// A LicenseRef's idstring: letters, digits, `.` and `-` only; a hash keeps distinct ones apart.
pub(super) fn sanitize_ref(id: &str) -> String {
    let clean: String = id
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == id {
        clean
    } else {
        let digest = Sha256::digest(id.as_bytes());
        format!("{clean}-{}", &hex(&digest)[..12])
    }
}
