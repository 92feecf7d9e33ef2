//! Containerfile (Dockerfile) syntax → a list of instructions, each with its line.
//!
//! Handles parser directives at the top (`# escape=\`` changes the escape character,
//! `# syntax=` is accepted and ignored), comments, line continuations (comment and
//! empty lines inside a continued instruction are skipped, as Docker does), `--flag=value`
//! options after the keyword, and the two argument forms: a JSON array of strings
//! (exec form) or anything else (shell form). Variable expansion happens later, per
//! instruction, with the environment of the build at that point (see `expand`).

use std::fmt;

/// One instruction as written (continuations joined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    pub keyword: Keyword,
    /// `--name=value` options, in order (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    /// Everything after the keyword and its flags, trimmed.
    pub rest: String,
    /// The escape character in force (`\` or `` ` ``).
    pub escape: char,
    /// Here-documents opened on the instruction's line (`<<EOF` ... `EOF`), in order.
    pub heredocs: Vec<Heredoc>,
}

/// One here-document: its terminator word and its lines (terminator excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    pub word: String,
    /// `<<-WORD`: leading tabs are stripped from the body and the terminator.
    pub strip_tabs: bool,
    pub body: String,
}

/// The instructions the build knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    From,
    Run,
    Copy,
    Add,
    Env,
    Arg,
    Workdir,
    User,
    Cmd,
    Entrypoint,
    Expose,
    Label,
    Volume,
    Stopsignal,
    Healthcheck,
    Shell,
    Onbuild,
    Maintainer,
}

impl Keyword {
    fn parse(word: &str) -> Option<Keyword> {
        Some(match word.to_ascii_uppercase().as_str() {
            "FROM" => Keyword::From,
            "RUN" => Keyword::Run,
            "COPY" => Keyword::Copy,
            "ADD" => Keyword::Add,
            "ENV" => Keyword::Env,
            "ARG" => Keyword::Arg,
            "WORKDIR" => Keyword::Workdir,
            "USER" => Keyword::User,
            "CMD" => Keyword::Cmd,
            "ENTRYPOINT" => Keyword::Entrypoint,
            "EXPOSE" => Keyword::Expose,
            "LABEL" => Keyword::Label,
            "VOLUME" => Keyword::Volume,
            "STOPSIGNAL" => Keyword::Stopsignal,
            "HEALTHCHECK" => Keyword::Healthcheck,
            "SHELL" => Keyword::Shell,
            "ONBUILD" => Keyword::Onbuild,
            "MAINTAINER" => Keyword::Maintainer,
            _ => return None,
        })
    }

    /// The flags this instruction accepts.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Keyword::From => &["platform"],
            Keyword::Copy => &["from", "chown", "chmod", "link"],
            Keyword::Add => &["chown", "chmod", "link"],
            Keyword::Healthcheck => &[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ],
            _ => &[],
        }
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!("{self:?}").to_ascii_uppercase())
    }
}

/// The argument of CMD, ENTRYPOINT, RUN, SHELL: exec form or shell form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

impl Instruction {
    /// The argument as a command: a JSON array of strings is the exec form. With
    /// here-documents, `RUN <<EOF` alone runs the document as the script; otherwise the
    /// documents follow the command line, for the shell to read as it would in a script.
    pub fn command(&self) -> Command {
        if let Some(args) = json_array(&self.rest) {
            return Command::Exec(args);
        }
        match self.heredocs.as_slice() {
            [] => Command::Shell(self.rest.clone()),
            [only] if self.rest.starts_with("<<") && !self.rest.contains(char::is_whitespace) => {
                Command::Shell(only.body.clone())
            }
            docs => {
                let mut script = self.rest.clone();
                script.push('\n');
                for d in docs {
                    script.push_str(&d.body);
                    script.push_str(&d.word);
                    script.push('\n');
                }
                Command::Shell(script)
            }
        }
    }

    /// The value of flag `name`, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The instruction as a build prints it: keyword, flags, arguments.
    pub fn text(&self) -> String {
        let mut out = self.keyword.to_string();
        for (name, value) in &self.flags {
            out.push_str(&format!(" --{name}={value}"));
        }
        if !self.rest.is_empty() {
            out.push(' ');
            out.push_str(&self.rest);
        }
        out
    }
}

/// Parses `[ "a", "b" ]` as exec-form arguments.
pub fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(text).ok()
}

/// A syntax error: line and message (the caller adds the file name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole Containerfile.
pub fn parse(text: &str) -> Result<Vec<Instruction>, SyntaxError> {
    let lines: Vec<&str> = text.lines().collect();
    let (escape, first) = directives(&lines)?;
    let mut out = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let start = i;
        let mut joined = String::new();
        let mut current = line.to_string();
        loop {
            match continued(&current, escape) {
                Some(head) => {
                    joined.push_str(head);
                    // Skip comment and empty lines inside the continuation.
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i].trim_start();
                        i += 1;
                        if l.trim().is_empty() || l.starts_with('#') {
                            continue;
                        }
                        next = Some(l.trim_end().to_string());
                        break;
                    }
                    match next {
                        Some(n) => current = n,
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    break;
                }
            }
        }
        let mut ins = instruction(start, joined.trim(), escape)?;
        for (word, strip_tabs) in heredoc_markers(&ins.rest) {
            let mut body = String::new();
            loop {
                let Some(line) = lines.get(i) else {
                    return Err(SyntaxError {
                        line: start,
                        message: format!(
                            "unterminated here-document: no line {word} after line {start}"
                        ),
                    });
                };
                i += 1;
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == word {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            ins.heredocs.push(Heredoc {
                word,
                strip_tabs,
                body,
            });
        }
        if !ins.heredocs.is_empty() && ins.keyword != Keyword::Run {
            return Err(SyntaxError {
                line: start,
                message: format!("{}: here-documents are supported in RUN only", ins.keyword),
            });
        }
        out.push(ins);
    }
    Ok(out)
}

/// The here-document openers in a shell-form line: `<<WORD`, `<<-WORD`, `<<"WORD"`,
/// `<<'WORD'` (not `<<<`, and not inside a JSON array).
fn heredoc_markers(rest: &str) -> Vec<(String, bool)> {
    if json_array(rest).is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(at) = s.find("<<") {
        let mut after = &s[at + 2..];
        if after.starts_with('<') {
            s = after.trim_start_matches('<');
            continue;
        }
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            after = &after[1..];
            let end = after.find(q).unwrap_or(after.len());
            let word = &after[..end];
            if !word.is_empty() {
                out.push((word.to_string(), strip_tabs));
            }
            s = &after[(end + 1).min(after.len())..];
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            if end > 0 {
                out.push((after[..end].to_string(), strip_tabs));
            }
            s = &after[end..];
        }
    }
    out
}

/// The escape character and the index of the first line after the directives.
fn directives(lines: &[&str]) -> Result<(char, usize), SyntaxError> {
    let mut escape = '\\';
    for (i, line) in lines.iter().enumerate() {
        let Some(body) = line.trim().strip_prefix('#') else {
            return Ok((escape, i));
        };
        let Some((name, value)) = body.split_once('=') else {
            return Ok((escape, i));
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name.contains(char::is_whitespace) || name.is_empty() {
            return Ok((escape, i));
        }
        match name.as_str() {
            "escape" => {
                escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(SyntaxError {
                            line: i + 1,
                            message: format!("invalid escape directive {value:?}: use \\ or `"),
                        })
                    }
                }
            }
            // Accepted and ignored: the build's own syntax is the only one.
            "syntax" | "check" => {}
            _ => return Ok((escape, i)),
        }
    }
    Ok((escape, lines.len()))
}

/// If `line` ends with the escape character, the line without it.
fn continued(line: &str, escape: char) -> Option<&str> {
    line.trim_end().strip_suffix(escape)
}

fn instruction(line: usize, text: &str, escape: char) -> Result<Instruction, SyntaxError> {
    let (word, mut rest) = match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    };
    let keyword = Keyword::parse(word).ok_or_else(|| SyntaxError {
        line,
        message: format!("unknown instruction: {}", word.to_ascii_uppercase()),
    })?;
    let mut flags = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let flag = &after[..end];
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        if !keyword.flags().contains(&name) {
            return Err(SyntaxError {
                line,
                message: format!("{keyword}: unknown flag: --{name}"),
            });
        }
        flags.push((name.to_string(), value.to_string()));
        rest = after[end..].trim_start();
    }
    Ok(Instruction {
        line,
        keyword,
        flags,
        rest: rest.to_string(),
        escape,
        heredocs: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_skip_comments_inside() {
        let file = "FROM scratch\nRUN echo a \\\n# inside\n\n    && echo b\nCMD [\"sh\"]\n";
        let got = parse(file).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].line, 2);
        assert_eq!(got[1].rest, "echo a && echo b");
        assert_eq!(got[2].command(), Command::Exec(vec!["sh".into()]));
        assert_eq!(got[1].command(), Command::Shell("echo a && echo b".into()));
    }

    #[test]
    fn escape_directive_switches_to_backtick() {
        let file =
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo x\n";
        let got = parse(file).unwrap();
        assert_eq!(got[1].rest, "dir c:\\ && echo x");
        assert_eq!(got[1].escape, '`');
    }

    #[test]
    fn unknown_instruction_names_line_and_word() {
        let err = parse("FROM scratch\n\nrunn echo\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.message, "unknown instruction: RUNN");
    }

    #[test]
    fn flags_are_parsed_and_unknown_ones_refused() {
        let got = parse("COPY --from=build --chown=1:2 a b\n").unwrap();
        assert_eq!(got[0].flag("from"), Some("build"));
        assert_eq!(got[0].flag("chown"), Some("1:2"));
        assert_eq!(got[0].rest, "a b");
        let err = parse("RUN --mount=type=cache true\n").unwrap_err();
        assert!(
            err.message.contains("unknown flag: --mount"),
            "{}",
            err.message
        );
    }

    #[test]
    fn heredocs_become_the_script_or_follow_the_command() {
        let file = "FROM scratch\nRUN <<EOF\necho one\necho two\nEOF\nRUN cat > /f <<-'END' && echo done\n\tx $HOME\n\tEND\nCMD [\"sh\"]\n";
        let got = parse(file).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[1].command(),
            Command::Shell("echo one\necho two\n".into())
        );
        assert_eq!(
            got[2].command(),
            Command::Shell("cat > /f <<-'END' && echo done\nx $HOME\nEND\n".into())
        );
        assert_eq!(got[3].line, 9);
        let err = parse("FROM scratch\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(
            (err.line, err.message.contains("unterminated here-document")),
            (2, true)
        );
        let err = parse("FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n").unwrap_err();
        assert!(err.message.contains("RUN only"), "{}", err.message);
    }

    #[test]
    fn broken_json_is_shell_form() {
        let got = parse("CMD [\"sh\", \n").unwrap();
        assert_eq!(got[0].command(), Command::Shell("[\"sh\",".into()));
    }
}
