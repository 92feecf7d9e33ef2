//! The Swagger 2.0 document in the protocol-buffer form kube-apiserver serves when a client
//! asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: the `openapi.v2`
//! messages of gnostic (`Document`, `Schema`, `Operation`, ...). client-go's
//! `OpenAPISchema()` asks for nothing else, and kubectl uses it for client-side validation
//! (when the server does not advertise `fieldValidation`) and `explain
//! --output=plaintext-openapiv2`.
//!
//! This is a direct encoder from the JSON document: each JSON object becomes the message
//! gnostic would parse it into, field numbers per gnostic's `OpenAPIv2.proto`. Values that
//! gnostic keeps as `Any` (extensions, defaults, enums, examples) are carried as their YAML
//! text, which for us is JSON (YAML's subset), as gnostic's parser reads them.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A proto3 string: omitted when empty.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A string field from a JSON member, if it is a string.
    fn str_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(Value::String(s)) = v.get(key) {
            self.string(field, s);
        }
    }

    fn bool_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(Value::Bool(true)) = v.get(key) {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(n) = v.get(key).and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, 0);
            self.varint(n as u64);
        }
    }

    fn double_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(n) = v.get(key).and_then(Value::as_f64).filter(|n| *n != 0.0) {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn strings_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(Value::Array(a)) = v.get(key) {
            for s in a.iter().filter_map(Value::as_str) {
                self.bytes(field, s.as_bytes());
            }
        }
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn with(&mut self, field: u32, f: impl FnOnce(&mut Msg)) {
        let mut m = Msg::default();
        f(&mut m);
        self.message(field, m);
    }

    /// `Any { yaml = 2 }`.
    fn any(&mut self, field: u32, v: &Value) {
        let text = serde_json::to_string(v).expect("serializable");
        self.with(field, |m| m.string(2, &text));
    }

    /// `repeated NamedAny vendor_extension`: every `x-` member.
    fn extensions(&mut self, field: u32, v: &Map<String, Value>) {
        for (k, x) in v.iter().filter(|(k, _)| k.starts_with("x-")) {
            self.with(field, |m| {
                m.string(1, k);
                m.any(2, x);
            });
        }
    }
}

/// Encode a Swagger 2.0 document (as [`super::v2`] builds it) as an `openapi.v2.Document`.
pub fn encode(doc: &Value) -> Vec<u8> {
    let empty = Map::new();
    let d = doc.as_object().unwrap_or(&empty);
    let mut m = Msg::default();
    m.str_of(1, d, "swagger");
    if let Some(Value::Object(info)) = d.get("info") {
        m.with(2, |i| {
            i.str_of(1, info, "title");
            i.str_of(2, info, "version");
            i.str_of(3, info, "description");
            i.extensions(7, info);
        });
    }
    m.str_of(3, d, "host");
    m.str_of(4, d, "basePath");
    m.strings_of(5, d, "schemes");
    m.strings_of(6, d, "consumes");
    m.strings_of(7, d, "produces");
    if let Some(Value::Object(paths)) = d.get("paths") {
        m.with(8, |p| {
            p.extensions(1, paths);
            for (path, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                p.with(2, |n| {
                    n.string(1, path);
                    n.message(2, path_item(item));
                });
            }
        });
    }
    if let Some(Value::Object(defs)) = d.get("definitions") {
        m.with(9, |ds| {
            for (name, s) in defs {
                ds.with(1, |n| {
                    n.string(1, name);
                    n.message(2, schema(s));
                });
            }
        });
    }
    if let Some(Value::Array(reqs)) = d.get("security") {
        for r in reqs.iter().filter_map(Value::as_object) {
            m.message(12, security_requirement(r));
        }
    }
    if let Some(Value::Object(defs)) = d.get("securityDefinitions") {
        m.with(13, |sd| {
            for (name, def) in defs {
                let Some(def) = def.as_object() else { continue };
                sd.with(1, |n| {
                    n.string(1, name);
                    n.with(2, |item| {
                        // Only API-key and basic schemes are published.
                        if def.get("type").and_then(Value::as_str) == Some("basic") {
                            item.with(1, |b| {
                                b.str_of(1, def, "type");
                                b.str_of(2, def, "description");
                            });
                        } else {
                            item.with(2, |k| {
                                k.str_of(1, def, "type");
                                k.str_of(2, def, "name");
                                k.str_of(3, def, "in");
                                k.str_of(4, def, "description");
                            });
                        }
                    });
                });
            }
        });
    }
    m.extensions(16, d);
    m.0
}

fn security_requirement(r: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, scopes) in r {
        m.with(1, |n| {
            n.string(1, name);
            n.with(2, |a| {
                for s in scopes.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    a.bytes(1, s.as_bytes());
                }
            });
        });
    }
    m
}

fn path_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(item) = v.as_object() else { return m };
    m.str_of(1, item, "$ref");
    for (method, field) in [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8)] {
        if let Some(Value::Object(op)) = item.get(method) {
            m.message(field, operation(op));
        }
    }
    if let Some(Value::Array(params)) = item.get("parameters") {
        for p in params {
            m.message(9, parameters_item(p));
        }
    }
    m.extensions(10, item);
    m
}

fn operation(op: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.strings_of(1, op, "tags");
    m.str_of(2, op, "summary");
    m.str_of(3, op, "description");
    m.str_of(5, op, "operationId");
    m.strings_of(6, op, "produces");
    m.strings_of(7, op, "consumes");
    if let Some(Value::Array(params)) = op.get("parameters") {
        for p in params {
            m.message(8, parameters_item(p));
        }
    }
    if let Some(Value::Object(responses)) = op.get("responses") {
        m.with(9, |rs| {
            for (code, r) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Some(r) = r.as_object() else { continue };
                rs.with(1, |n| {
                    n.string(1, code);
                    n.with(2, |rv| {
                        if let Some(Value::String(reference)) = r.get("$ref") {
                            rv.with(2, |j| j.string(1, reference));
                        } else {
                            rv.with(1, |resp| {
                                resp.str_of(1, r, "description");
                                if let Some(s) = r.get("schema") {
                                    resp.with(2, |si| si.message(1, schema(s)));
                                }
                                resp.extensions(5, r);
                            });
                        }
                    });
                });
            }
            rs.extensions(2, responses);
        });
    }
    m.strings_of(10, op, "schemes");
    m.bool_of(11, op, "deprecated");
    m.extensions(13, op);
    m
}

/// `ParametersItem { Parameter parameter = 1 | JsonReference json_reference = 2 }`.
fn parameters_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(p) = v.as_object() else { return m };
    if let Some(Value::String(reference)) = p.get("$ref") {
        m.with(2, |j| j.string(1, reference));
        return m;
    }
    m.with(1, |param| {
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        if location == "body" {
            param.with(1, |b| {
                b.str_of(1, p, "description");
                b.str_of(2, p, "name");
                b.str_of(3, p, "in");
                b.bool_of(4, p, "required");
                if let Some(s) = p.get("schema") {
                    b.message(5, schema(s));
                }
                b.extensions(6, p);
            });
            return;
        }
        // NonBodyParameter: header = 1, formData = 2, query = 3, path = 4. The sub-schemas
        // share their fields' order; query and formData have allowEmptyValue after name,
        // which shifts the rest by one.
        let (which, shifted) = match location {
            "header" => (1, false),
            "formData" => (2, true),
            "path" => (4, false),
            _ => (3, true),
        };
        param.with(2, |nb| {
            nb.with(which, |s| {
                let o = if shifted { 1 } else { 0 };
                s.bool_of(1, p, "required");
                s.str_of(2, p, "in");
                s.str_of(3, p, "description");
                s.str_of(4, p, "name");
                if shifted {
                    s.bool_of(5, p, "allowEmptyValue");
                }
                s.str_of(5 + o, p, "type");
                s.str_of(6 + o, p, "format");
                s.str_of(8 + o, p, "collectionFormat");
                if let Some(d) = p.get("default") {
                    s.any(9 + o, d);
                }
                s.bool_of(19 + o, p, "uniqueItems");
                s.extensions(22 + o, p);
            });
        });
    });
    m
}

fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(s) = v.as_object() else { return m };
    m.str_of(1, s, "$ref");
    m.str_of(2, s, "format");
    m.str_of(3, s, "title");
    m.str_of(4, s, "description");
    if let Some(d) = s.get("default") {
        m.any(5, d);
    }
    m.double_of(6, s, "multipleOf");
    m.double_of(7, s, "maximum");
    m.bool_of(8, s, "exclusiveMaximum");
    m.double_of(9, s, "minimum");
    m.bool_of(10, s, "exclusiveMinimum");
    m.int_of(11, s, "maxLength");
    m.int_of(12, s, "minLength");
    m.str_of(13, s, "pattern");
    m.int_of(14, s, "maxItems");
    m.int_of(15, s, "minItems");
    m.bool_of(16, s, "uniqueItems");
    m.int_of(17, s, "maxProperties");
    m.int_of(18, s, "minProperties");
    m.strings_of(19, s, "required");
    if let Some(Value::Array(values)) = s.get("enum") {
        for e in values {
            m.any(20, e);
        }
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => m.with(21, |a| {
            a.key(2, 0);
            a.varint(*b as u64);
        }),
        Some(sub @ Value::Object(_)) => m.with(21, |a| a.message(1, schema(sub))),
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => m.with(22, |ty| ty.bytes(1, t.as_bytes())),
        Some(Value::Array(ts)) => m.with(22, |ty| {
            for t in ts.iter().filter_map(Value::as_str) {
                ty.bytes(1, t.as_bytes());
            }
        }),
        _ => {}
    }
    match s.get("items") {
        Some(Value::Array(items)) => m.with(23, |i| {
            for item in items {
                i.message(1, schema(item));
            }
        }),
        Some(item @ Value::Object(_)) => m.with(23, |i| i.message(1, schema(item))),
        _ => {}
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            m.message(24, schema(sub));
        }
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        m.with(25, |p| {
            for (name, sub) in props {
                p.with(1, |n| {
                    n.string(1, name);
                    n.message(2, schema(sub));
                });
            }
        });
    }
    m.str_of(26, s, "discriminator");
    m.bool_of(27, s, "readOnly");
    if let Some(e) = s.get("example") {
        m.any(30, e);
    }
    m.extensions(31, s);
    m
}
