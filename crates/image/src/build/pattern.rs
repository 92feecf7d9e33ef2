//! Path patterns for COPY/ADD sources and `.dockerignore`: Go's `filepath.Match` within
//! one path component (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) plus `**` as a whole
//! component, which matches any number of directories (including none).

/// True when `path` (relative, `/`-separated, cleaned) matches `pattern` (same form).
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    match_components(&pat, &comps)
}

/// True when `pattern` has glob characters (otherwise it names one path).
pub fn has_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

fn match_components(pat: &[&str], comps: &[&str]) -> bool {
    match pat.split_first() {
        None => comps.is_empty(),
        Some((&"**", rest)) => (0..=comps.len()).any(|skip| match_components(rest, &comps[skip..])),
        Some((first, rest)) => match comps.split_first() {
            Some((c, tail)) => {
                component(first.as_bytes(), c.as_bytes()) && match_components(rest, tail)
            }
            None => false,
        },
    }
}

/// `filepath.Match` on a single component (no `/` on either side).
fn component(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| component(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && component(rest, &name[1..]),
        Some((b'[', rest)) => match (name.split_first(), class(rest)) {
            (Some((&c, tail)), Some((set, after))) => set(c) && component(after, tail),
            _ => false,
        },
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && component(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && component(rest, &name[1..]),
    }
}

/// Parses a `[...]` class body; returns a membership test and the pattern after `]`.
#[allow(clippy::type_complexity)]
fn class(pat: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool + '_>, &[u8])> {
    let (negate, mut body) = match pat.first() {
        Some(b'^') | Some(b'!') => (true, &pat[1..]),
        _ => (false, pat),
    };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let (&c, rest) = body.split_first()?;
        if c == b']' && !first {
            body = rest;
            break;
        }
        first = false;
        let (lo, rest) = if c == b'\\' {
            (*rest.first()?, &rest[1..])
        } else {
            (c, rest)
        };
        let (hi, rest) = match rest {
            [b'-', h, tail @ ..] if *h != b']' => (*h, tail),
            _ => (lo, rest),
        };
        ranges.push((lo, hi));
        body = rest;
    }
    Some((
        Box::new(move |c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negate),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_questions_and_classes_stay_within_a_component() {
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "dir/a.txt"));
        assert!(matches("dir/?.txt", "dir/a.txt"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[^a-c]x", "bx"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
    }

    #[test]
    fn double_star_spans_directories() {
        assert!(matches("**/*.log", "a.log"));
        assert!(matches("**/*.log", "x/y/a.log"));
        assert!(matches("src/**", "src/a/b"));
        assert!(matches("a/**/b", "a/b"));
        assert!(!matches("a/**/b", "a/x/c"));
    }
}
