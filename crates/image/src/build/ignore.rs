//! `.dockerignore`: which context paths a build may not see. Docker's rules: one pattern
//! per line, `#` comments, surrounding blanks and a leading `/` dropped, paths cleaned;
//! a pattern excludes the paths it matches and everything under them; `!pattern`
//! re-includes; the last matching line wins.

use super::pattern;

/// The parsed ignore file (empty when the context has none).
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    rules: Vec<(bool, String)>,
}

impl Ignore {
    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (keep, pat) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let pat = clean(pat);
                (!pat.is_empty()).then_some((keep, pat))
            })
            .collect();
        Ignore { rules }
    }

    /// True when the context path `rel` (relative, `/`-separated) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let rel = clean(rel);
        let mut excluded = false;
        for (keep, pat) in &self.rules {
            if matches_or_parent(pat, &rel) {
                excluded = !keep;
            }
        }
        excluded
    }

    /// True when some `!` rule could re-include a path under an excluded directory.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(keep, _)| *keep)
    }
}

fn matches_or_parent(pat: &str, rel: &str) -> bool {
    if pattern::matches(pat, rel) {
        return true;
    }
    let mut prefix = rel;
    while let Some((parent, _)) = prefix.rsplit_once('/') {
        if pattern::matches(pat, parent) {
            return true;
        }
        prefix = parent;
    }
    false
}

/// Like Go's `filepath.Clean` on a relative path: no `.`, no empty components, `..`
/// resolved (never above the root), no leading `/`.
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_matching_rule_wins_and_parents_exclude_children() {
        let ig = Ignore::parse("# comment\n/secret\n*.log\n!keep.log\nbuild/**\n\n");
        assert!(ig.excluded("secret"));
        assert!(ig.excluded("secret/key.pem"));
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(!ig.excluded("dir/a.log"));
        assert!(ig.excluded("build/x/y"));
        assert!(!ig.excluded("src/main.c"));
        assert!(ig.has_exceptions());
    }

    #[test]
    fn double_star_excludes_at_any_depth() {
        let ig = Ignore::parse("**/*.tmp\n");
        assert!(ig.excluded("a.tmp"));
        assert!(ig.excluded("x/y/a.tmp"));
        assert!(!ig.excluded("x/y/a.txt"));
    }
}
