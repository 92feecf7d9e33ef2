//! Go text/template semantics: each construct, whitespace trimming, scoping, errors.
//! Expected outputs are what Go's text/template produces for the same input.

use tug_gotemplate::{MissingKey, Template, Value};

fn data() -> Value {
    Value::from(&serde_json::json!({
        "Values": {"a": 1, "b": 2, "s": "str", "l": [1, 2, 3], "m": {"z": "x", "y": "w"},
                   "f": 1.5, "t": true, "e": "", "n": null, "nested": {"k": {"v": "deep"}}},
        "Name": "world"
    }))
}

fn run_mk(src: &str, mk: MissingKey) -> Result<String, String> {
    let mut t = Template::go("t").missing_key(mk);
    t.parse("t", src).map_err(|e| e.to_string())?;
    t.execute("t", &data()).map_err(|e| e.to_string())
}

fn run(src: &str) -> Result<String, String> {
    run_mk(src, MissingKey::Default)
}

#[track_caller]
fn ok(src: &str, want: &str) {
    assert_eq!(run(src), Ok(want.to_string()), "template {src:?}");
}

#[track_caller]
fn err(src: &str, want: &str) {
    match run(src) {
        Ok(out) => panic!("template {src:?}: expected error {want:?}, got output {out:?}"),
        Err(e) => assert_eq!(e, want, "template {src:?}"),
    }
}

#[test]
fn text_and_fields() {
    ok("hello {{.Name}}", "hello world");
    ok("{{.Values.nested.k.v}}", "deep");
    ok("{{.Values.nope}}", "<no value>");
    ok("{{.Values.nope.deeper}}", "<no value>");
    ok("{{.Values.n}}", "<no value>");
    ok("{{.Values.l}} {{.Values.m}}", "[1 2 3] map[y:w z:x]");
    ok("{{.Values.f}} {{.Values.t}}", "1.5 true");
    ok("{{ . | len }}", "2");
}

#[test]
fn literals() {
    ok("{{1}} {{1.0}} {{1e3}} {{0x10}} {{'a'}} {{-5}} {{\"q\\n\"}} {{`raw`}} {{true}}", "1 1 1000 16 97 -5 q\n raw true");
    ok("{{ 1_000 }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1.5e-7 }}", "1000 15 15 5 1.5e-07");
}

#[test]
fn whitespace_trimming() {
    ok("a  {{- 1 -}}  b", "a1b");
    ok("a \n\t {{- 1}} \n b", "a1 \n b");
    ok("{{1 -}}\n\n  x", "1x");
    ok("{{- /* comment */ -}}  x", "x");
    ok("a {{/* c */}} b", "a  b");
    ok("{{-3}}", "-3");
    ok("x\n{{- if true }}\ny\n{{- end }}\n", "x\ny\n");
}

#[test]
fn conditionals() {
    ok("{{if .Values.a}}yes{{else}}no{{end}}", "yes");
    ok("{{if .Values.e}}yes{{else}}no{{end}}", "no");
    ok("{{if .Values.nope}}a{{else if .Values.t}}b{{else}}c{{end}}", "b");
    ok("{{if .Values.n}}a{{else if .Values.e}}b{{else}}c{{end}}", "c");
    ok("{{with .Values.m}}{{.y}}{{end}}", "w");
    ok("{{with .Values.nope}}a{{else}}b{{end}}", "b");
    ok("{{with .Values.nope}}a{{else with .Values.s}}{{.}}{{end}}", "str");
    ok("{{if and .Values.a .Values.e}}t{{else}}f{{end}} {{or .Values.e .Values.s}} {{and 1 0 2}} {{or 0 \"\"}}", "f str 0 ");
    ok("{{not .Values.e}} {{not 1}}", "true false");
}

#[test]
fn ranges() {
    ok("{{range .Values.l}}{{.}},{{end}}", "1,2,3,");
    ok("{{range $i, $e := .Values.l}}{{$i}}={{$e}};{{end}}", "0=1;1=2;2=3;");
    ok("{{range $k, $v := .Values.m}}{{$k}}={{$v}};{{end}}", "y=w;z=x;");
    ok("{{range $v := .Values.m}}{{$v}}{{end}}", "wx");
    ok("{{range .Values.nope}}x{{else}}empty{{end}}", "empty");
    ok("{{range .Values.l}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", "13");
    ok("{{range .Values.l}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", "1");
    ok("{{range 3}}{{.}}{{end}}", "012");
    ok("{{range $i := 2}}{{$i}}{{end}}", "01");
    err("{{range $i, $e := 3}}{{end}}", "template: t:1:18: executing \"t\" at <3>: can't use 3 to iterate over more than one variable");
    err("{{range .Values.s}}{{end}}", "template: t:1:15: executing \"t\" at <.Values.s>: range can't iterate over str");
    ok("{{range .Values.l}}{{$.Name}}{{end}}", "worldworldworld");
}

#[test]
fn variables_and_scoping() {
    ok("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2");
    ok("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21");
    ok("{{$x := .Values.l}}{{range $x}}{{$x}}{{end}}", "[1 2 3][1 2 3][1 2 3]");
    ok("{{with $x := .Values.s}}{{$x}}{{.}}{{end}}", "strstr");
    ok("{{$}}", "map[Name:world Values:map[a:1 b:2 e: f:1.5 l:[1 2 3] m:map[y:w z:x] n:<nil> nested:map[k:map[v:deep]] s:str t:true]]");
    err("{{if true}}{{$y := 1}}{{end}}{{$y}}", "template: t:1: undefined variable \"$y\"");
    err("{{$z = 1}}", "template: t:1: undefined variable \"$z\"");
    ok("{{$a := 1}}{{range .Values.l}}{{$a = .}}{{end}}{{$a}}", "3");
}

#[test]
fn templates_define_block() {
    ok("{{define \"x\"}}X{{.}}{{end}}{{template \"x\" 5}}|{{template \"x\"}}", "X5|X<no value>");
    ok("{{block \"y\" .Name}}Y{{.}}{{end}}", "Yworld");
    ok("{{define \"r\"}}{{if lt (len .) 3}}{{len .}}{{template \"r\" (printf \"%s.\" .)}}{{end}}{{end}}{{template \"r\" \"\"}}", "012");
    // Unbounded recursion stops with Go's error instead of overflowing the stack.
    let e = run("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}").unwrap_err();
    assert!(e.ends_with("exceeded maximum template depth (100)"), "{e}");
    err("{{template \"missing\"}}", "template: t:1:11: executing \"t\" at <{{template \"missing\"}}>: template \"missing\" not defined");
}

#[test]
fn builtins() {
    ok("{{len .Values.l}} {{len .Values.s}} {{len .Values.m}}", "3 3 2");
    ok("{{index .Values.l 1}} {{index .Values.m \"y\"}} {{index .Values \"nested\" \"k\" \"v\"}} {{index .Values.m \"q\"}}", "2 w deep <no value>");
    ok("{{slice \"abcdef\" 1 3}} {{slice .Values.l 1}} {{slice .Values.l}}", "bc [2 3] [1 2 3]");
    ok("{{print 1 2 \"a\" \"b\" 3}}|{{println 1 \"a\"}}", "1 2ab3|1 a\n");
    ok("{{printf \"%d-%s-%v-%q\" 3 \"s\" .Values.l \"q\"}}", "3-s-[1 2 3]-\"q\"");
    ok("{{printf \"%5.2f|%-3d|%x|%T\" 3.14159 7 255 .Values.m}}", " 3.14|7  |ff|map[string]interface {}");
    ok("{{html \"<a href='x'>&\\\"\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;");
    ok("{{js \"a'b\\\"<>\"}}", "a\\'b\\\"\\u003C\\u003E");
    ok("{{urlquery \"a b&c=d/é\"}}", "a+b%26c%3Dd%2F%C3%A9");
    ok("{{eq 1 1}} {{eq 1 2 1}} {{eq \"a\" \"b\"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2.5}}", "true true false true true true true false");
    ok("{{eq .Values.nope \"x\"}} {{eq .Values.n .Values.nope}}", "false true");
    ok("{{.Values.a | printf \"%03d\"}} {{\"x\" | printf \"%s%s\" \"y\"}}", "001 yx");
    ok("{{(len .Values.l) | printf \"%d\"}} {{(index .Values.m \"y\")}}", "3 w");
}

#[test]
fn exec_errors_match_go() {
    err("{{index .Values.l 5}}", "template: t:1:2: executing \"t\" at <index .Values.l 5>: error calling index: index out of range: 5");
    err("line1\n  {{.Values.a.b}}", "template: t:2:11: executing \"t\" at <.Values.a.b>: can't evaluate field b in type int");
    err("{{.Values.n.x}}", "template: t:1:9: executing \"t\" at <.Values.n.x>: nil pointer evaluating interface {}.x");
    err("{{lt 1 2.5}}", "template: t:1:2: executing \"t\" at <lt 1 2.5>: error calling lt: incompatible types for comparison");
    err("{{eq .Values.f 1}}", "template: t:1:2: executing \"t\" at <eq .Values.f 1>: error calling eq: incompatible types for comparison");
    err("{{len 3}}", "template: t:1:2: executing \"t\" at <len 3>: error calling len: len of type int");
    err("{{nil}}", "template: t:1:2: executing \"t\" at <nil>: nil is not a command");
    err("{{printf 1}}", "template: t:1:9: executing \"t\" at <1>: expected string; found 1");
    err("{{printf .Values.a}}", "template: t:1:16: executing \"t\" at <.Values.a>: wrong type for value; expected string; got int");
    err("{{not}}", "template: t:1:2: executing \"t\" at <not>: wrong number of args for not: want 1 got 0");
    err("{{.Values.a 1}}", "template: t:1:9: executing \"t\" at <.Values.a>: a is not a method but has arguments");
}

#[test]
fn missingkey_modes() {
    assert_eq!(run_mk("{{.Values.nope}}", MissingKey::Zero), Ok("<no value>".into()));
    assert_eq!(
        run_mk("{{.Values.nope.x}}", MissingKey::Zero),
        Err("template: t:1:9: executing \"t\" at <.Values.nope.x>: nil pointer evaluating interface {}.x".into())
    );
    assert_eq!(
        run_mk("{{.Values.nope}}", MissingKey::Error),
        Err("template: t:1:9: executing \"t\" at <.Values.nope>: map has no entry for key \"nope\"".into())
    );
}

#[test]
fn parse_errors_match_go() {
    err("{{if}}", "template: t:1: missing value for if");
    err("a\n{{end}}", "template: t:2: unexpected {{end}}");
    err("{{if true}}", "template: t:1: unexpected EOF");
    err("{{nofunc 1}}", "template: t:1: function \"nofunc\" not defined");
    err("{{ (len .Values.l -}} x", "template: t:1: unclosed left paren");
    err("{{ (len .Values.l }}", "template: t:1: unclosed left paren");
    err("{{.X", "template: t:1: unclosed action");
    err("{{break}}", "template: t:1: {{break}} outside {{range}}");
    err("{{\"abc}}", "template: t:1: unterminated quoted string");
    err("{{/* x }}", "template: t:1: unclosed comment");
    err("{{3x}}", "template: t:1: bad number syntax: \"3x\"");
    err("{{)}}", "template: t:1: unexpected right paren");
}

#[test]
fn parser_survives_random_input() {
    // A small deterministic fuzz: random mixes of template tokens must never panic.
    let atoms = [
        "{{", "}}", "{{-", "-}}", " ", "if", "else", "end", "range", "with", "define", "template", "block",
        "\"s\"", "`r`", "'c'", "$x", ":=", "=", "|", "(", ")", ".A", ".", "$", "1", "-2", "1.5e3", "0x1F",
        "printf", "len", "index", "nil", "true", "/*", "*/", ",", "break", "continue", "\n", "x", "\\", "\"",
        "é", "\u{0}",
    ];
    let mut seed: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20000 {
        let n = (next() % 20) as usize;
        let src: String = (0..n).map(|_| atoms[(next() % atoms.len() as u64) as usize]).collect();
        let mut t = Template::new("f");
        if t.parse("f", &src).is_ok() {
            let _ = t.execute("f", &data());
        }
    }
}
