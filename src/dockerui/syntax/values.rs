//! The arguments of single instructions (commands, ports, signals, paths, healthchecks and their
//! durations, `KEY=value` pairs), each parsed and checked on its own so an error can say what a
//! valid value looks like.

use super::{Command, Healthcheck};

pub(super) fn json_array(keyword: &str, rest: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(rest).map_err(|_| {
        format!("{keyword} needs a JSON array of strings with double quotes, e.g. {keyword} [\"/bin/sh\", \"-c\"]; got {rest}")
    })
}

/// An exec-form JSON array, or a shell-form line: with a SHELL, `SHELL + [line]` as Docker
/// does; without one (the image has no shell) the line split into words.
pub(super) fn command(rest: &str, shell: Option<&Command>) -> Result<Command, String> {
    if rest.starts_with('[') {
        if let Ok(words) = serde_json::from_str::<Vec<String>>(rest) {
            return Ok(words);
        }
        if serde_json::from_str::<serde_json::Value>(rest).is_ok() {
            return Err("the exec form must be a JSON array of strings, e.g. [\"hello\", \"--greeting\", \"hi\"]".into());
        }
        return Err(format!(
            "{rest} is not a valid JSON array; write the exec form as [\"program\", \"arg\"] with double quotes"
        ));
    }
    if let Some(shell) = shell {
        let mut command = shell.clone();
        command.push(rest.to_string());
        return Ok(command);
    }
    shell_words::split(rest).map_err(|_| {
        format!("unterminated quote in {rest:?}; close the quote or use the exec form [\"program\", \"arg\"]")
    })
}

pub(super) fn normalize_port(word: &str) -> Result<String, String> {
    let (port, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_number = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let valid = match port.split_once('-') {
        Some((a, b)) => valid_number(a) && valid_number(b),
        None => valid_number(port),
    };
    if !valid || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!(
            "EXPOSE {word:?} is not a port; write 8080, 8080/tcp or 53/udp"
        ));
    }
    Ok(format!("{port}/{proto}"))
}

pub(super) fn is_signal(signal: &str) -> bool {
    signal.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n))
        || (signal.starts_with("SIG")
            && signal.len() > 3
            && signal[3..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-'))
}

/// `/a` + `b/../c` → `/a/c`.
pub(super) fn clean_path(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..]
/// [--retries=N] CMD ...` or `HEALTHCHECK NONE`.
pub(super) fn healthcheck(rest: &str, shell: Option<&Command>) -> Result<Healthcheck, String> {
    let rest = rest.trim();
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        });
    }
    let mut check = Healthcheck::default();
    let mut remaining = rest;
    while let Some(option) = remaining.strip_prefix("--") {
        let (flag, after) = option
            .split_once(char::is_whitespace)
            .unwrap_or((option, ""));
        let (name, value) = flag.split_once('=').ok_or_else(|| {
            format!("HEALTHCHECK option --{flag} needs a value, e.g. --{flag}=30s")
        })?;
        match name {
            "interval" => check.interval = Some(duration(name, value)?),
            "timeout" => check.timeout = Some(duration(name, value)?),
            "start-period" => check.start_period = Some(duration(name, value)?),
            "start-interval" => check.start_interval = Some(duration(name, value)?),
            "retries" => {
                check.retries = Some(value.parse().map_err(|_| format!("HEALTHCHECK --retries={value} is not a number"))?)
            }
            other => return Err(format!("HEALTHCHECK has no option --{other}; it takes --interval, --timeout, --start-period, --start-interval and --retries")),
        }
        remaining = after.trim_start();
    }
    let (keyword, command_text) = remaining
        .split_once(char::is_whitespace)
        .unwrap_or((remaining, ""));
    if !keyword.eq_ignore_ascii_case("CMD") || command_text.trim().is_empty() {
        return Err("HEALTHCHECK needs CMD and a command, or NONE".into());
    }
    let command_text = command_text.trim();
    check.test = if command_text.starts_with('[') {
        let mut test = vec!["CMD".to_string()];
        test.extend(command(command_text, None)?);
        test
    } else {
        match shell {
            Some(_) => vec!["CMD-SHELL".to_string(), command_text.to_string()],
            None => {
                let mut test = vec!["CMD".to_string()];
                test.extend(command(command_text, None)?);
                test
            }
        }
    };
    Ok(check)
}

/// Go-style durations as Docker takes them: `30s`, `1m30s`, `500ms`, `1h`; in nanoseconds.
fn duration(name: &str, text: &str) -> Result<u64, String> {
    let bad =
        || format!("HEALTHCHECK --{name}={text} is not a duration; write e.g. 30s, 1m30s or 500ms");
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, size) = [
            ("ms", 1_000_000u64),
            ("us", 1_000),
            ("ns", 1),
            ("h", 3_600_000_000_000),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
        ]
        .into_iter()
        .find(|(unit, _)| rest.starts_with(unit))
        .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
        total = number
            .checked_mul(size)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// `K=V K2="v 2"` pairs from words already lexed (quotes removed, variables expanded).
pub(super) fn key_values(
    keyword: &str,
    words: Vec<String>,
) -> Result<Vec<(String, String)>, String> {
    if words.is_empty() {
        return Err(format!("{keyword} needs at least one KEY=value"));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!(
                "{keyword} {word:?} has no value; write {keyword} KEY=value"
            )),
        })
        .collect()
}
