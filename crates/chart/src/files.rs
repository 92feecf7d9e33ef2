//! `.Files`: a chart's non-template files, with Helm's accessors
//! (`Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`, `AsSecrets`).

use std::sync::Arc;

use tug_gotemplate::{Map, Object, Value};

use crate::loader::ChartFile;

/// The files a template can read.
#[derive(Clone)]
pub struct Files(Arc<Vec<ChartFile>>);

impl Files {
    pub fn new(files: &[ChartFile]) -> Files {
        Files(Arc::new(files.to_vec()))
    }

    fn get(&self, name: &str) -> Option<&ChartFile> {
        self.0.iter().find(|f| f.name == name)
    }

    fn text(&self, name: &str) -> String {
        self.get(name)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default()
    }

    /// A map of base name to content (`encode` turns bytes into the stored text).
    fn as_map(&self, encode: impl Fn(&[u8]) -> String) -> String {
        let m = Map::new();
        for f in self.0.iter() {
            let base = f.name.rsplit('/').next().unwrap_or(&f.name);
            m.insert(base, Value::from(encode(&f.data)));
        }
        let y = tug_gotemplate::funcs::yaml::to_yaml(&Value::Map(m));
        y.strip_suffix('\n').unwrap_or(&y).to_string()
    }
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg = args.first().and_then(Value::as_str).unwrap_or("");
        Some(Ok(match name {
            "Get" | "GetBytes" => Value::from(self.text(arg)),
            "Lines" => {
                let t = self.text(arg);
                if t.is_empty() {
                    return Some(Ok(Value::list(Vec::new())));
                }
                let t = t.strip_suffix('\n').unwrap_or(&t);
                Value::list(t.split('\n').map(Value::str).collect())
            }
            "Glob" => {
                let hits: Vec<ChartFile> = self
                    .0
                    .iter()
                    .filter(|f| crate::glob::matches(arg, &f.name))
                    .cloned()
                    .collect();
                Value::Object(Arc::new(Files(Arc::new(hits))))
            }
            "AsConfig" => Value::from(self.as_map(|d| String::from_utf8_lossy(d).into_owned())),
            "AsSecrets" => Value::from(self.as_map(base64)),
            _ => return None,
        }))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn display(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|f| format!("{}:{:?}", f.name, f.data))
            .collect();
        format!("map[{}]", items.join(" "))
    }
    fn to_value(&self) -> Value {
        let m = Map::new();
        for f in self.0.iter() {
            m.insert(
                f.name.clone(),
                Value::from(String::from_utf8_lossy(&f.data).into_owned()),
            );
        }
        Value::Map(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        Files::new(&[
            ChartFile {
                name: "config/a.conf".into(),
                data: b"a=1\nb=2\n".to_vec().into(),
            },
            ChartFile {
                name: "config/b.conf".into(),
                data: b"hi".to_vec().into(),
            },
            ChartFile {
                name: "README.md".into(),
                data: b"readme".to_vec().into(),
            },
        ])
    }

    #[test]
    fn accessors_work_like_helm() {
        let f = Value::Object(Arc::new(files()));
        let root = Map::new();
        root.insert("Files", f);
        let r = |src: &str| tug_gotemplate::render(src, &Value::Map(root.clone())).unwrap();
        assert_eq!(
            r(r#"{{ .Files.Get "README.md" }}|{{ .Files.Get "nope" }}"#),
            "readme|"
        );
        assert_eq!(
            r(r#"{{ range .Files.Lines "config/a.conf" }}[{{ . }}]{{ end }}"#),
            "[a=1][b=2]"
        );
        assert_eq!(
            r(r#"{{ (.Files.Glob "config/*").AsConfig }}"#),
            "a.conf: |\n  a=1\n  b=2\nb.conf: hi"
        );
        assert_eq!(
            r(r#"{{ (.Files.Glob "config/b*").AsSecrets }}"#),
            "b.conf: aGk="
        );
    }
}
