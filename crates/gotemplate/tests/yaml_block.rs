//! The fast block-YAML reader (`funcs::yaml_block`) against the full parser: on every
//! YAML document of the conformance data (values files, manifests, golden outputs), a
//! document it reads must come out exactly as the full parser reads it; documents it
//! does not handle are left to the full parser.

use std::path::{Path, PathBuf};

use tug_gotemplate::funcs::{yaml, yaml_block};
use tug_gotemplate::value::FloatValue;

fn conformance() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if here.is_dir() {
        here
    } else {
        PathBuf::from("/work/shared/conformance")
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "txt") {
            out.push(p);
        }
    }
}

/// The documents of a file, split at `---` lines.
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
        }
    }
    docs
}

fn full(doc: &str) -> Result<tug_gotemplate::Value, String> {
    yaml::from_yaml_as::<FloatValue>(doc).map(|v| v.0)
}

#[test]
fn reads_every_document_it_accepts_as_the_full_parser_does() {
    let mut files = Vec::new();
    yaml_files(&conformance(), &mut files);
    assert!(files.len() > 500, "conformance data not found");
    let (mut handled, mut total) = (0, 0);
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for doc in documents(&text) {
            total += 1;
            if let Some(fast) = yaml_block::read(&doc) {
                handled += 1;
                match full(&doc) {
                    Ok(v) => assert!(v == fast, "{}: read differently:\n{doc}", f.display()),
                    Err(e) => panic!("{}: accepted a document the parser refuses ({e}):\n{doc}", f.display()),
                }
            }
        }
    }
    println!("{handled} of {total} documents read by the fast reader");
    assert!(handled * 2 > total, "only {handled} of {total} documents handled");
    let values = conformance().join("helm-bitnami/charts/postgresql/values.yaml");
    assert!(yaml_block::read(&std::fs::read_to_string(values).unwrap()).is_some());
}

#[test]
fn tricky_documents_match_or_are_left_to_the_full_parser() {
    let cases = [
        "a: |\n  x\n\n  y\n\nb: 1\n",
        "a: |-\n  x\n    y\n  # not a comment\n# a comment\nb: |\n\n  z\n",
        "a: |\n   \n  x\n",
        "a: |\n  x",
        "a: |+\n  x\n\n",
        "a: >\n  x\n  y\n",
        "- a: 1\n  b:\n  - x\n  - 'it''s'\n-\n  c: \"q\"\n",
        "k:\n- 1\n- 127.0.0.1:5432/db?ssl=no\n- 12:30\n- 2001-12-14t21:59:43.10-05:00\n- 1.2.3\n- 17.6.0\n- 1..2\n- 1.2.\n- -c\n- -inf\n- -Xmx1g\n- -2.5\n- 0.10\n- 007\n- 1e3\n- .5\n- +1\n",
        "a: yes\n", "a: True\n", "a: ~\nb: null\nc:\nd: []\ne: {}  # c\nf: [1]\ng: [\"ALL\", x, 2.5 ] # c\nh: [a,]\ni: [a b]\n",
        "a: b: c\n", "a: b\n  c\n", "a: 1\na: 2\n", "<<: {}\n", "a: &x 1\nb: *x\n",
        "\"quoted key\": 'v'\nplain key with spaces: v w # comment\nurl: http://x:80/y\n",
        "a: \"esc\\n\"\n", "a: \"x\"#c\n", "a:\tb\n", "- a\n- b\nc: d\n", "x\n",
        "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n", "a: 1\n  # indented comment\nb: 2\n",
    ];
    for doc in cases {
        if let Some(fast) = yaml_block::read(doc) {
            let v = full(doc).unwrap_or_else(|e| panic!("accepted {doc:?}, the parser says {e}"));
            assert!(v == fast, "{doc:?} read differently");
        }
    }
    // The common shapes are read here, not left to the full parser.
    for doc in [cases[0], cases[1], cases[6], "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n"] {
        assert!(yaml_block::read(doc).is_some(), "{doc:?} not handled");
    }
}
