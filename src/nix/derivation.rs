//! What a `.drv` file says that the plan needs, read from its ATerm text
//! (`Derive([outputs],[inputs],[sources],"system","builder",[args],[env])`) without a full
//! parser: its system, and whether Nix would give its build the network. Text of another shape
//! (a newer format, or not a derivation) reads as unknown, and the callers then assume the most.

/// The `system` field, `None` when the text is not that shape.
pub fn system(text: &[u8]) -> Option<&str> {
    let found = strings(text)?;
    let system = found
        .iter()
        .find(|s| s.field == 3 && s.depth == 0)
        .map(|s| s.value)?;
    std::str::from_utf8(system).ok()
}

/// Whether Nix gives this derivation's build the network: an output with a hash algorithm
/// (fixed-output, which is how Nix fetches, or content-addressed), or `__impure` or
/// `__noChroot` anywhere in it (as an attribute, or inside `__structuredAttrs`' JSON; a mention
/// elsewhere only errs on the side of the network). Unknown text counts as needing it.
pub fn needs_network(text: &[u8]) -> bool {
    let Some(found) = strings(text) else {
        return true;
    };
    // In the outputs, `[("out","/nix/store/…","sha256","…"),…]`, the third string of a tuple is
    // its hash algorithm, empty for an input-addressed output.
    let hashed = found
        .iter()
        .any(|s| s.field == 0 && s.depth == 2 && s.position == 2 && !s.value.is_empty());
    let contains = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    hashed || contains(b"__impure") || contains(b"__noChroot")
}

/// A string of the ATerm: which top-level field it is in, how deep in lists and tuples, its
/// position among its siblings there, and its raw (still escaped) bytes.
struct AtermString<'a> {
    field: usize,
    depth: usize,
    position: usize,
    value: &'a [u8],
}

/// Every string of `Derive(…)`, or `None` when the text is not that shape (another prefix,
/// brackets that do not balance, a string left open).
fn strings(text: &[u8]) -> Option<Vec<AtermString<'_>>> {
    let body = text.strip_prefix(b"Derive(")?.strip_suffix(b")")?;
    let mut found = Vec::new();
    // The position at each open level; the first is the top-level field.
    let mut positions = vec![0usize];
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    for (i, byte) in body.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    found.push(AtermString {
                        field: positions[0],
                        depth: positions.len() - 1,
                        position: *positions.last()?,
                        value: &body[start..i],
                    });
                }
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                start = i + 1;
            }
            b'[' | b'(' => positions.push(0),
            b']' | b')' => {
                if positions.len() == 1 {
                    return None;
                }
                positions.pop();
            }
            b',' => *positions.last_mut()? += 1,
            _ => {}
        }
    }
    (positions.len() == 1 && !in_string).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &[u8] = br#"Derive([("out","/nix/store/a-app","","")],[("/nix/store/b.drv",["out"])],["/nix/store/c-src"],"aarch64-linux","/nix/store/d/busybox",["sh","-c","x\"y,("],[("name","app")])"#;

    #[test]
    fn the_system_of_a_derivation() {
        assert_eq!(system(APP), Some("aarch64-linux"));
        assert_eq!(
            system(b"Derive([],[],[],\"x86_64-linux\",\"b\",[],[])"),
            Some("x86_64-linux")
        );
        assert_eq!(system(b"Derive([],[])"), None);
        assert_eq!(system(b"not a derivation"), None);
        assert_eq!(system(b"Derive([],[],[],\"x86_64-linux\""), None);
    }

    #[test]
    fn only_fixed_output_content_addressed_and_impure_builds_get_the_network() {
        assert!(!needs_network(APP));
        let fetch = br#"Derive([("out","/nix/store/a-src.tar.gz","sha256","0f3e")],[],[],"x86_64-linux","builtin:fetchurl",[],[("url","https://example.org/src.tar.gz")])"#;
        assert!(needs_network(fetch));
        let recursive = br#"Derive([("out","/nix/store/a-src","r:sha256","0f3e")],[],[],"x86_64-linux","b",[],[])"#;
        assert!(needs_network(recursive));
        let floating = br#"Derive([("dev","","r:sha256",""),("out","","r:sha256","")],[],[],"x86_64-linux","b",[],[])"#;
        assert!(needs_network(floating));
        let impure = br#"Derive([("out","/nix/store/a-x","","")],[],[],"x86_64-linux","b",[],[("__impure","1"),("name","x")])"#;
        assert!(needs_network(impure));
        let no_chroot = br#"Derive([("out","/nix/store/a-x","","")],[],[],"x86_64-linux","b",[],[("__noChroot","1")])"#;
        assert!(needs_network(no_chroot));
        let structured = br#"Derive([("out","/nix/store/a-x","","")],[],[],"x86_64-linux","b",[],[("__json","{"__impure":true}")])"#;
        assert!(needs_network(structured));
        // A hash-like string elsewhere (an argument, an env value) is no output hash.
        let args = br#"Derive([("out","/nix/store/a-x","","")],[],[],"x86_64-linux","b",["sha256","0f3e"],[("outputHash","")])"#;
        assert!(!needs_network(args));
        assert!(needs_network(b"DrvWithVersion(\"xp-dyn-drv\",[])"));
        assert!(needs_network(b"Derive([(\"out\""));
    }
}
