//! Variables and words as Docker's shell lexer makes them, so that a value means here what it
//! means in a Dockerfile: quotes, the escape character, `$NAME` and `${NAME:-word}` forms.

use std::collections::BTreeMap;

/// Docker's variable substitution: `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}`; none
/// inside single quotes; the escape character makes `$` literal. An undefined name is an error
/// (the name is returned), except inside `:-`/`:+` forms.
pub fn expand_variables(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_single = false;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && !in_single && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c == '\'' {
            in_single = !in_single;
        }
        if c != '$' || in_single {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                out.push_str(&chars[i..].iter().collect::<String>());
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            i += close + 3;
            let (name, modifier) = match inner.find(':') {
                Some(at) => (&inner[..at], Some(&inner[at..])),
                None => (inner.as_str(), None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match modifier {
                None => out.push_str(vars.get(name).ok_or_else(|| name.to_string())?),
                Some(m) if m.starts_with(":-") => match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&expand_variables(&m[2..], vars, escape)?),
                },
                Some(m) if m.starts_with(":+") => {
                    if value.is_some() {
                        out.push_str(&expand_variables(&m[2..], vars, escape)?);
                    }
                }
                Some(_) => return Err(name.to_string()),
            }
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        i += 1 + name.chars().count();
        out.push_str(vars.get(&name).ok_or(name)?);
    }
    Ok(out)
}

/// Why `lex_words` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lex {
    Unterminated,
    Undefined(String),
}

/// Splits `text` into words as Docker's shell lexer does for ENV, LABEL, ARG, EXPOSE and
/// VOLUME: whitespace separates words outside quotes, quotes are removed, `$NAME`/`${…}` expand
/// outside single quotes, and the escape character makes the next character literal.
pub fn lex_words(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<Vec<String>, Lex> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if single {
            if c == '\'' {
                single = false;
            } else {
                word.push(c);
            }
            i += 1;
            continue;
        }
        match c {
            c if c == escape && i + 1 < chars.len() => {
                word.push(chars[i + 1]);
                in_word = true;
                i += 2;
            }
            '\'' if !double => {
                single = true;
                in_word = true;
                i += 1;
            }
            '"' => {
                double = !double;
                in_word = true;
                i += 1;
            }
            '$' => {
                // Expand one variable reference: the text up to its end goes to expand_variables.
                let end = variable_end(&chars, i);
                let reference: String = chars[i..end].iter().collect();
                word.push_str(&expand_variables(&reference, vars, escape).map_err(Lex::Undefined)?);
                in_word = true;
                i = end;
            }
            c if c.is_whitespace() && !double => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                i += 1;
            }
            c => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if single || double {
        return Err(Lex::Unterminated);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Where the variable reference starting at `chars[start] == '$'` ends.
fn variable_end(chars: &[char], start: usize) -> usize {
    match chars.get(start + 1) {
        Some('{') => chars[start..]
            .iter()
            .position(|c| *c == '}')
            .map_or(chars.len(), |close| start + close + 1),
        _ => {
            start
                + 1
                + chars[start + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count()
        }
    }
}
