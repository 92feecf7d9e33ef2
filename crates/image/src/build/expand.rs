//! Variable substitution and quote processing as Docker applies them to the arguments
//! of ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG:
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`,
//! `${VAR:?message}`; single quotes are literal, double quotes expand, the escape
//! character makes the next character literal. RUN, CMD and ENTRYPOINT are not
//! expanded: their shell does it.

/// Looks a variable up in the build's environment at this point.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Processes `text` as one word (quotes removed, variables expanded, no splitting).
pub fn word(text: &str, env: Lookup<'_>, escape: char) -> Result<String, String> {
    let mut words = Expander::new(text, env, escape).run(false)?;
    Ok(words.pop().unwrap_or_default())
}

/// Processes `text` into words split on unquoted whitespace.
pub fn words(text: &str, env: Lookup<'_>, escape: char) -> Result<Vec<String>, String> {
    Expander::new(text, env, escape).run(true)
}

struct Expander<'a> {
    chars: Vec<char>,
    pos: usize,
    env: Lookup<'a>,
    escape: char,
}

impl<'a> Expander<'a> {
    fn new(text: &str, env: Lookup<'a>, escape: char) -> Self {
        Expander {
            chars: text.chars().collect(),
            pos: 0,
            env,
            escape,
        }
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        self.pos += 1;
        c
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn run(mut self, split: bool) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut current = String::new();
        let mut started = false;
        while let Some(c) = self.next() {
            if split && c.is_whitespace() {
                if started {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
                continue;
            }
            started = true;
            if c == '\'' {
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("unexpected end of text: missing closing '".into()),
                    }
                }
            } else if c == '"' {
                loop {
                    match self.next() {
                        Some('"') => break,
                        Some('$') => current.push_str(&self.variable()?),
                        Some(c) if c == self.escape => match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                current.push(n);
                            }
                            _ => current.push(c),
                        },
                        Some(c) => current.push(c),
                        None => return Err("unexpected end of text: missing closing \"".into()),
                    }
                }
            } else if c == self.escape {
                if let Some(n) = self.next() {
                    current.push(n);
                }
            } else if c == '$' {
                // Unquoted expansions split into words, as the shell would.
                for v in self.variable()?.chars() {
                    if split && v.is_whitespace() {
                        if started && !current.is_empty() {
                            out.push(std::mem::take(&mut current));
                        }
                    } else {
                        current.push(v);
                    }
                }
            } else {
                current.push(c);
            }
        }
        if started || !split {
            out.push(current);
        }
        Ok(out)
    }

    /// After a `$`: the variable's value (or `$` itself when no name follows).
    fn variable(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                if name.is_empty() {
                    return Err("bad substitution: ${} needs a variable name".into());
                }
                let value = (self.env)(&name);
                match self.next() {
                    Some('}') => Ok(value.unwrap_or_default()),
                    Some(':') => {
                        let op = self.next().ok_or("bad substitution: missing '}'")?;
                        let arg = self.modifier_word()?;
                        apply(&name, value.filter(|v| !v.is_empty()), op, arg)
                    }
                    Some(op @ ('-' | '+' | '?')) => {
                        let arg = self.modifier_word()?;
                        apply(&name, value, op, arg)
                    }
                    Some(c) => Err(format!(
                        "bad substitution: unexpected {c:?} in ${{{name}...}}"
                    )),
                    None => Err(format!("bad substitution: missing '}}' after ${{{name}")),
                }
            }
            Some(c) if c == '_' || c.is_ascii_alphanumeric() => {
                let name = self.name();
                Ok((self.env)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '_' || c.is_ascii_alphanumeric() {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// The word of `${name:-word}` up to the closing brace, itself expanded.
    fn modifier_word(&mut self) -> Result<String, String> {
        let mut raw = String::new();
        let mut depth = 0;
        loop {
            match self.next() {
                Some('}') if depth == 0 => break,
                Some(c) => {
                    if c == '{' {
                        depth += 1;
                    } else if c == '}' {
                        depth -= 1;
                    }
                    raw.push(c);
                }
                None => return Err("bad substitution: missing '}'".into()),
            }
        }
        word(&raw, self.env, self.escape)
    }
}

fn apply(name: &str, value: Option<String>, op: char, arg: String) -> Result<String, String> {
    match op {
        '-' => Ok(value.unwrap_or(arg)),
        '+' => Ok(if value.is_some() { arg } else { String::new() }),
        '?' => value.ok_or_else(|| {
            if arg.is_empty() {
                format!("{name}: is not allowed to be unset")
            } else {
                format!("{name}: {arg}")
            }
        }),
        other => Err(format!(
            "bad substitution: unsupported modifier {other:?} in ${{{name}}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("apple".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("two words".into()),
            _ => None,
        }
    }

    fn w(text: &str) -> String {
        word(text, &env, '\\').unwrap()
    }

    #[test]
    fn variables_and_modifiers_expand() {
        assert_eq!(w("$A/${A}x"), "apple/applex");
        assert_eq!(w("${NOPE:-dflt}"), "dflt");
        assert_eq!(w("${EMPTY:-dflt}|${EMPTY-dflt}"), "dflt|");
        assert_eq!(w("${A:+alt}|${NOPE:+alt}"), "alt|");
        assert_eq!(w("${NOPE:-$A}"), "apple");
        assert_eq!(w("cost $ 5"), "cost $ 5");
        assert!(word("${NOPE:?must be set}", &env, '\\')
            .unwrap_err()
            .contains("must be set"));
    }

    #[test]
    fn quotes_and_escapes_follow_docker() {
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "apple b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(
            words("x \"$SP\" $SP", &env, '\\').unwrap(),
            vec!["x", "two words", "two", "words"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        );
        assert_eq!(words("a=''", &env, '\\').unwrap(), vec!["a=".to_string()]);
    }
}
