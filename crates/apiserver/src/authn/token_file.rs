//! Static bearer tokens from a file (`--token-auth-file`), in kube-apiserver's
//! CSV format: `token,user,uid[,"group1,group2"]`, one per line. The file is
//! read once at start; a bad line stops the server with an error naming it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Authenticator, BoxFuture, Credentials, Outcome, User};

/// A line of the file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("failed to read the token file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {} line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The users of the tokens in a token file.
pub struct TokenFile {
    users: HashMap<String, User>,
}

impl TokenFile {
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TokenFile::parse(&text).map_err(|(line, message)| TokenFileError::Line {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parses the file's text; errors are (line number, message).
    pub fn parse(text: &str) -> Result<TokenFile, (usize, String)> {
        let mut users = HashMap::new();
        let mut first_line = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields = split_csv(line).map_err(|e| (number, e))?;
            let field = |i: usize, name: &str| -> Result<String, (usize, String)> {
                match fields.get(i).map(|f| f.trim()) {
                    Some(f) if !f.is_empty() => Ok(f.to_string()),
                    _ => Err((number, format!("field {} ({name}) is missing or empty; the format is token,user,uid,\"group1,group2\"", i + 1))),
                }
            };
            if fields.len() > 4 {
                return Err((number, format!("{} fields, at most 4 are allowed: token,user,uid,\"group1,group2\" (quote the groups)", fields.len())));
            }
            let token = field(0, "token")?;
            let name = field(1, "user")?;
            let uid = field(2, "uid")?;
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(earlier) = first_line.insert(token.clone(), number) {
                return Err((
                    number,
                    format!("field 1 (token) repeats the token of line {earlier}; each token must be unique"),
                ));
            }
            users.insert(
                token,
                User {
                    name,
                    uid,
                    groups,
                    ..User::default()
                },
            );
        }
        Ok(TokenFile { users })
    }
}

/// Splits one CSV record: fields separated by commas, double quotes around a
/// field that contains commas, `""` for a quote inside one.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().ok_or("empty record")?;
        match (c, quoted) {
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => {
                quoted = false;
                if chars.peek().is_some_and(|c| *c != ',') {
                    return Err(format!(
                        "field {} has text after its closing quote",
                        fields.len()
                    ));
                }
            }
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("field {} has no closing quote", fields.len()));
    }
    Ok(fields)
}

impl Authenticator for TokenFile {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
        let outcome = match credentials.token.and_then(|t| self.users.get(t)) {
            Some(user) => Outcome::any_audience(user.clone(), credentials),
            None => Outcome::NotMine,
        };
        Box::pin(std::future::ready(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_users_with_quoted_groups() {
        let file =
            TokenFile::parse("# comment\nt1,alice,u1,\"dev,ops\"\n\nt2,bob,u2\nt3,carol,u3,solo\n")
                .unwrap();
        let alice = &file.users["t1"];
        assert_eq!(
            (
                alice.name.as_str(),
                alice.uid.as_str(),
                alice.groups.clone()
            ),
            ("alice", "u1", vec!["dev".to_string(), "ops".to_string()])
        );
        assert!(file.users["t2"].groups.is_empty());
        assert_eq!(file.users["t3"].groups, vec!["solo".to_string()]);
    }

    #[test]
    fn bad_lines_are_named_with_their_field() {
        let cases = [
            ("t1,alice\n", 1, "field 3 (uid)"),
            ("t1,alice,u1\n,bob,u2\n", 2, "field 1 (token)"),
            ("t1,alice,u1,\"dev\n", 1, "no closing quote"),
            ("t1,alice,u1,a,b\n", 1, "5 fields"),
            ("t1,alice,u1\nt1,bob,u2\n", 2, "repeats the token of line 1"),
        ];
        for (text, line, message) in cases {
            let Err((l, m)) = TokenFile::parse(text) else {
                panic!("{text:?} parsed")
            };
            assert_eq!(l, line, "{text:?}");
            assert!(m.contains(message), "{text:?}: {m}");
            assert!(!m.contains("t1,"), "the token leaked: {m}");
        }
    }
}
