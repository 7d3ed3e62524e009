//! The .drv files and sources a build step needs, carried in the LLB itself (FileOp Mkfile data)
//! instead of copied out of the evaluation's output.
//!
//! Why: BuildKit keys a copy out of another step's output by a checksum of the copied content,
//! and that checksum is computed differently by different BuildKit releases (measured: dockerd 26,
//! Docker 28.5 and BuildKit v0.32.2 each miss the others' exported caches at exactly those
//! copies). A Mkfile's key is the digest of the op, data included, which every release computes
//! the same way, so the build steps' keys travel between engines. The bytes are read from the
//! evaluation (untrusted) and each path is checked against its registration record's NAR hash,
//! so a build step only ever receives what Nix registered.
//!
//! `.drv` files go in as plain files at their store paths, and so does a source that is one file
//! (`./message.txt`, a program), executable or not: the frontend reads it from the evaluation and
//! makes its NAR itself to check it. Any other source (a tree, which may hold symlinks) goes in as
//! its NAR (`nix-store --dump`), which the build step restores (`nix-store --restore`). Each Nix
//! process costs about 40 ms to start, so a step that restores nothing saves that per source,
//! and so does the evaluation that dumps nothing. A source over
//! `MAX_INLINE_SOURCE_BYTES` stays a content-keyed copy: its step's key then holds within one
//! BuildKit release only.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::nix::closure::{parse_nar_hash, StorePath};
use crate::nix::drvgraph::Record;

/// The largest source (NAR bytes) carried in the LLB; larger ones are copied by content.
pub const MAX_INLINE_SOURCE_BYTES: u64 = 5 << 19;
/// All that is carried, at most: one solve's definition holds all of it, and BuildKit before
/// 0.15 (Docker 26) takes gateway messages of at most 4 MiB (16 MiB later); a MiB is left for
/// the rest of the LLB.
pub const INLINE_BUDGET_BYTES: u64 = 3 << 20;

/// Which paths of the groups' derivation closures are carried in the LLB: every .drv file when
/// together they fit the budget (else none), then sources from the smallest up while each is at
/// most `MAX_INLINE_SOURCE_BYTES` and the total stays within the budget. The rest is copied.
pub fn choose(records: &[&Record]) -> BTreeSet<StorePath> {
    let (derivations, mut sources): (Vec<&Record>, Vec<&Record>) = records
        .iter()
        .partition(|r| r.path.base_name().ends_with(".drv"));
    let mut chosen = BTreeSet::new();
    let mut total: u64 = derivations.iter().map(|r| r.nar_size).sum();
    if total > INLINE_BUDGET_BYTES {
        return chosen;
    }
    chosen.extend(derivations.iter().map(|r| r.path.clone()));
    sources.sort_by_key(|r| (r.nar_size, r.path.clone()));
    for source in sources {
        if source.nar_size > MAX_INLINE_SOURCE_BYTES
            || total + source.nar_size > INLINE_BUDGET_BYTES
        {
            break;
        }
        total += source.nar_size;
        chosen.insert(source.path.clone());
    }
    chosen
}

/// The evaluation's .drv files as one file (`DERIVATION_FILES`, concatenated) and their sizes
/// (`DERIVATION_SIZES`, `wc -c` lines: size, path; a `total` line after several), split by path.
/// Untrusted: each file is checked against its record afterwards (`verify`).
pub fn split_derivations(
    sizes: &str,
    files: &[u8],
) -> Result<BTreeMap<StorePath, Vec<u8>>, String> {
    let mut split = BTreeMap::new();
    let mut offset: usize = 0;
    for line in sizes.lines() {
        let line = line.trim();
        let (size, name) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("derivation sizes: no size and path in {line:?}"))?;
        let name = name.trim();
        if name == "total" {
            continue;
        }
        let size: usize = size
            .parse()
            .map_err(|_| format!("derivation sizes: {size:?} is no size"))?;
        let path =
            StorePath::parse(name).map_err(|err| format!("derivation sizes: {name:?}: {err}"))?;
        let end = offset
            .checked_add(size)
            .filter(|end| *end <= files.len())
            .ok_or_else(|| format!("the derivation files end before {path}"))?;
        split.insert(path, files[offset..end].to_vec());
        offset = end;
    }
    if offset != files.len() {
        return Err(format!(
            "the derivation files hold {} bytes more than their sizes say",
            files.len() - offset
        ));
    }
    Ok(split)
}

/// The inputs read from the evaluation and checked, by path: .drv bytes, sources that are one
/// file, and the NARs of the other sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InlineInputs {
    pub derivations: BTreeMap<StorePath, Vec<u8>>,
    pub source_files: BTreeMap<StorePath, SourceFile>,
    pub source_nars: BTreeMap<StorePath, Vec<u8>>,
}

/// A source that is one regular file: its bytes, and whether Nix made it executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub executable: bool,
    pub contents: Vec<u8>,
}

/// The NAR serialisation of a single non-executable regular file (what a .drv is in the store).
pub fn regular_file_nar(contents: &[u8]) -> Vec<u8> {
    file_nar(contents, false)
}

/// The NAR serialisation of a single regular file, executable or not.
pub fn file_nar(contents: &[u8], executable: bool) -> Vec<u8> {
    let mut nar = Vec::with_capacity(contents.len() + 160);
    for token in [b"nix-archive-1".as_slice(), b"(", b"type", b"regular"] {
        nar_string(&mut nar, token);
    }
    if executable {
        nar_string(&mut nar, b"executable");
        nar_string(&mut nar, b"");
    }
    nar_string(&mut nar, b"contents");
    nar_string(&mut nar, contents);
    nar_string(&mut nar, b")");
    nar
}

fn nar_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + (8 - bytes.len() % 8) % 8, 0);
}

/// Checks that `nar` is what `record` registered: its size and SHA-256. `nix-store --dump-db`
/// writes the hash as bare base-16; `sha256:`-prefixed and SRI forms are accepted too.
pub fn verify(record: &Record, nar: &[u8]) -> Result<(), String> {
    let expected = if record.nar_hash.len() == 64 {
        parse_nar_hash(&format!("sha256:{}", record.nar_hash))
    } else {
        parse_nar_hash(&record.nar_hash)
    }
    .ok_or_else(|| {
        format!(
            "the record of {} has no SHA-256 NAR hash ({:?})",
            record.path, record.nar_hash
        )
    })?;
    if nar.len() as u64 != record.nar_size {
        return Err(format!(
            "{} is {} bytes as a NAR, its record says {}",
            record.path,
            nar.len(),
            record.nar_size
        ));
    }
    let actual: [u8; 32] = Sha256::digest(nar).into();
    if actual != expected {
        return Err(format!(
            "{} does not match the NAR hash of its record",
            record.path
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn derivation_files_are_split_by_their_sizes() {
        let a = "/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-a.drv";
        let b = "/nix/store/1xmr8jicvzszfzpz46g37mlpvbzjl2wp-b.drv";
        let sizes = format!("   3 {a}\n   2 {b}\n   5 total\n");
        let split = split_derivations(&sizes, b"aaabb").unwrap();
        assert_eq!(split[&StorePath::parse(a).unwrap()], b"aaa");
        assert_eq!(split[&StorePath::parse(b).unwrap()], b"bb");
        assert!(split_derivations(&sizes, b"aaab")
            .unwrap_err()
            .contains("end before"));
        assert!(split_derivations(&sizes, b"aaabbx")
            .unwrap_err()
            .contains("1 bytes more"));
        assert!(split_derivations("3 /etc/passwd\n", b"abc").is_err());
        assert!(split_derivations("x /nix/store/a.drv\n", b"").is_err());
        assert_eq!(split_derivations("", b"").unwrap().len(), 0);
    }

    proptest! {
        #[test]
        fn split_derivations_never_panics(sizes in ".{0,200}", files in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = split_derivations(&sizes, &files);
        }
    }

    fn record(path: &str, nar: &[u8]) -> Record {
        let hash: [u8; 32] = Sha256::digest(nar).into();
        Record {
            path: StorePath::parse(path).unwrap(),
            nar_hash: crate::nix::closure::hex(&hash),
            nar_size: nar.len() as u64,
            deriver: None,
            references: Vec::new(),
        }
    }

    #[test]
    fn a_regular_file_nar_is_what_nix_dumps() {
        // `echo hi > x; nix-store --dump x | sha256sum` with Nix 2.26 and 2.34: 120 bytes.
        let nar = regular_file_nar(b"hi\n");
        assert_eq!(nar.len(), 120);
        let hash: [u8; 32] = Sha256::digest(&nar).into();
        assert_eq!(
            crate::nix::closure::hex(&hash),
            "10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6"
        );
    }

    #[test]
    fn the_record_hash_is_checked_in_every_form() {
        let path = "/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-x";
        let nar = regular_file_nar(b"hi\n");
        let mut r = record(path, &nar);
        assert_eq!(verify(&r, &nar), Ok(()));
        r.nar_hash = "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h".into();
        assert_eq!(verify(&r, &nar), Ok(()));
        let other = regular_file_nar(b"ho\n");
        assert!(verify(&r, &other).unwrap_err().contains("does not match"));
        assert!(verify(&r, &nar[..100]).unwrap_err().contains("100 bytes"));
        r.nar_hash = "md5:abc".into();
        assert!(verify(&r, &nar).unwrap_err().contains("no SHA-256"));
    }

    #[test]
    fn derivations_and_small_sources_are_carried_large_ones_copied() {
        let drv = record("/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-x.drv", b"drv");
        let small = record("/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-small", b"s");
        let mut large = record("/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-large", b"l");
        large.nar_size = MAX_INLINE_SOURCE_BYTES + 1;
        let chosen = choose(&[&drv, &small, &large]);
        assert_eq!(
            chosen.into_iter().collect::<Vec<_>>(),
            vec![small.path.clone(), drv.path.clone()]
        );
        // Sources fill the budget from the smallest; derivations over it are all copied.
        let mut many = Vec::new();
        for i in 0..4 {
            let mut r = record(
                &format!("/nix/store/ccanbp0brs758hic2z1krdbv17y2rf9{i}-s"),
                b"",
            );
            r.nar_size = INLINE_BUDGET_BYTES / 3 - i;
            many.push(r);
        }
        let chosen = choose(&many.iter().collect::<Vec<_>>());
        assert_eq!(chosen.len(), 3);
        assert!(!chosen.contains(&many[0].path));
        let mut huge = drv.clone();
        huge.nar_size = INLINE_BUDGET_BYTES + 1;
        assert!(choose(&[&huge, &small]).is_empty());
    }
}
