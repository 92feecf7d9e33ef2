//! Shell-style patterns, as Go's `path.Match` reads them (`*`, `?`, `[a-z]`, `[^x]`,
//! `\` escapes; `*` never crosses `/`), plus `**` crossing directories as `.Files.Glob`
//! allows.

/// Whether `name` matches `pattern`. A malformed pattern matches nothing.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some((&c, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match c {
        '*' if rest.first() == Some(&'*') => {
            let rest = &rest[1..];
            (0..=n.len()).any(|i| match_from(rest, &n[i..]))
        }
        '*' => {
            for i in 0..=n.len() {
                if match_from(rest, &n[i..]) {
                    return true;
                }
                if i < n.len() && n[i] == '/' {
                    return false;
                }
            }
            false
        }
        '?' => n.first().is_some_and(|&x| x != '/') && match_from(rest, &n[1..]),
        '[' => {
            let Some(end) = rest.iter().position(|&x| x == ']') else {
                return false;
            };
            let Some(&x) = n.first() else {
                return false;
            };
            let (negated, class) = match rest[..end].split_first() {
                Some(('^', cls)) => (true, cls),
                _ => (false, &rest[..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= x && x <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == x;
                    i += 1;
                }
            }
            hit != negated && x != '/' && match_from(&rest[end + 1..], &n[1..])
        }
        '\\' => match rest.split_first() {
            Some((&e, rest)) => n.first() == Some(&e) && match_from(rest, &n[1..]),
            None => false,
        },
        c => n.first() == Some(&c) && match_from(rest, &n[1..]),
    }
}

/// The rules of a `.helmignore` file (a subset of `.gitignore`): one pattern a line,
/// `#` comments, `!` negation, a trailing `/` matching directories only, patterns with
/// a `/` matched against the whole path and others against the base name.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<IgnoreRule>,
}

#[derive(Clone, Debug)]
struct IgnoreRule {
    pattern: String,
    negate: bool,
    dir_only: bool,
}

impl IgnoreRules {
    pub fn parse(text: &str) -> IgnoreRules {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            let dir_only = pat.ends_with('/');
            let pattern = pat
                .trim_end_matches('/')
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            if pattern.is_empty() {
                continue;
            }
            rules.push(IgnoreRule {
                pattern,
                negate,
                dir_only,
            });
        }
        // Helm always ignores hidden files inside templates/.
        rules.push(IgnoreRule {
            pattern: "templates/.?*".into(),
            negate: false,
            dir_only: false,
        });
        IgnoreRules { rules }
    }

    /// Whether a path (relative to the chart, `/`-separated) is ignored.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut ignored = false;
        for r in &self.rules {
            if r.dir_only && !is_dir {
                continue;
            }
            let hit = if r.pattern.contains('/') {
                matches(&r.pattern, path)
            } else {
                matches(&r.pattern, base)
            };
            if hit {
                ignored = !r.negate;
            }
        }
        ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_go_path_match() {
        assert!(matches("templates/*.yaml", "templates/a.yaml"));
        assert!(!matches("templates/*.yaml", "templates/sub/a.yaml"));
        assert!(matches(
            "templates/subdir/role*",
            "templates/subdir/rolebinding.yaml"
        ));
        assert!(matches("files/**.conf", "files/a/b.conf"));
        assert!(matches("[a-c]?.txt", "b1.txt"));
        assert!(!matches("[^a-c]?.txt", "b1.txt"));
        assert!(matches("a\\*b", "a*b"));
    }

    #[test]
    fn helmignore_rules() {
        let r = IgnoreRules::parse("# comment\n*.tmp\nsecret/\n!keep.tmp\ndocs/*.md\n");
        assert!(r.ignored("x/y.tmp", false));
        assert!(!r.ignored("keep.tmp", false));
        assert!(r.ignored("secret", true));
        assert!(!r.ignored("secret", false));
        assert!(r.ignored("docs/a.md", false));
        assert!(!r.ignored("a.md", false));
        assert!(r.ignored("templates/.hidden", false));
    }
}
