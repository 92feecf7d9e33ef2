//! A brief fuzz of the lexer and parser: templates from a corpus (hand-written tricky
//! ones plus every template of the Helm conformance charts) mutated at random with a fixed
//! seed (deletions, insertions of template syntax and odd characters, duplications,
//! truncations). Parsing must never panic: every input either parses or fails with an
//! error naming the template and line. Inputs that parse are executed too, on a small
//! data set, and must not panic either. (It found a lexer loop: a trim marker inside
//! parentheses, `{{ (a -}}`, grew the token list without end; Go reports "unclosed left
//! paren", and so do we now.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use tug_gotemplate::{Template, Value};

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{{", "}}", "{{-", "-}}", "{{- ", " -}}", "end", "if", "else", "else if", "range", "with",
    "define", "template", "block", "break", "continue", "\"", "`", "'", "|", "(", ")", "$",
    "$x :=", "$x =", ":=", "/*", "*/", "{{/*", "*/}}", ".", "..", ".a.b", "$.", ",", "nil", "true",
    "1e309", "0x", "'\\u'", "\\", "\n", " ", "\t", "é", "😀", "\u{0}", "-", "+", "printf",
    "include", "tpl", "index", "and", "or", "not", "len", "slice", "call",
];

fn corpus() -> Vec<String> {
    let mut out: Vec<String> = [
        "{{ if .a }}x{{ else if .b }}y{{ else }}z{{ end }}",
        "{{ range $i, $v := .l }}{{ $i }}={{ $v }}{{ else }}none{{ end }}",
        "{{ with .m }}{{ .k }}{{ else }}-{{ end }}",
        "{{ define \"x\" }}{{ . }}{{ end }}{{ template \"x\" .a }}{{ block \"y\" . }}b{{ end }}",
        "{{- /* c */ -}} {{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
        "{{ printf \"%v %q %d\" .a \"s\" 3 | upper | quote }}",
        "{{ range 3 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        "{{ index .m \"k\" }}{{ slice .l 1 2 }}{{ (len .l) }}{{ and 1 0 }}{{ or 0 1 }}{{ not true }}",
        "{{ `raw {{ }}` }}{{ 'a' }}{{ 1.5e3 }}{{ -0x1F }}{{ nil }}",
        "{{ include \"x\" . | nindent 4 }}{{ tpl \"{{ .a }}\" . }}{{ toYaml .m }}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/helm");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "tpl" || x == "yaml" || x == "txt")
                && p.components().any(|c| c.as_os_str() == "templates")
            {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    out.push(text);
                }
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if !chars.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
            2 if !chars.is_empty() => {
                let start = rng.below(chars.len());
                let end = (start + 1 + rng.below(16)).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(at..at, copy);
            }
            3 => chars.truncate(at),
            _ => {
                let c = char::from_u32(rng.below(0x3000) as u32).unwrap_or('?');
                chars.insert(at, c);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_templates_never_panic() {
    let corpus = corpus();
    assert!(corpus.len() > 20, "the conformance charts were not found");
    let data = Value::from(&serde_json::json!({
        "a": 1, "b": "two", "l": [1, 2, 3], "m": {"k": "v"},
        "Values": {"a": 1}, "Release": {"Name": "r"}, "Chart": {"Name": "c"}
    }));
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..20_000 {
        let pick = rng.below(corpus.len());
        let src = mutate(&mut rng, &corpus[pick]);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut t = Template::new("fuzz");
            match t.parse("fuzz.yaml", &src) {
                Ok(()) => {
                    let _ = t.execute("fuzz.yaml", &data);
                    true
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("fuzz.yaml:"),
                        "error without a location: {msg}"
                    );
                    false
                }
            }
        }));
        match result {
            Ok(true) => parsed += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {i} panicked; the input was:\n{src:?}"),
        }
    }
    eprintln!("{parsed} parsed, {refused} refused, none panicked");
    assert!(
        parsed > 1000 && refused > 1000,
        "the mutations should produce both"
    );
}
