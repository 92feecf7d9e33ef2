//! `/openapi/v2` and `/openapi/v3`: the documents come from `tug_api::openapi`
//! once it lands; until then these paths answer 404 and kubectl needs
//! `--validate=false`.

use serde_json::Value;

/// The Swagger 2.0 document of every served type.
pub fn v2() -> Option<Value> {
    None
}

/// The OpenAPI v3 index: `{"paths": {"api/v1": {"serverRelativeURL": …}, …}}`.
pub fn v3_index() -> Option<Value> {
    None
}

/// The OpenAPI v3 document of one group version (`""` is the core group).
pub fn v3(_group: &str, _version: &str) -> Option<Value> {
    None
}
