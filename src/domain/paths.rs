//! What a write changed, as JSON Pointers into the POP's document: the paths a `popChanged`
//! event lists, so a client knows which fields to refetch (or to merge into its form).
//!
//! One pointer per top-level key whose value differs (`/nome_processo`, `/etapas`, `/status`),
//! and per key of the `area` object (`/area/codigo`): coarse enough to be cheap on every write,
//! fine enough to refetch only what changed.

use serde_json::{Map, Value};

/// The pointers of the keys of `before` and `after` (two POP documents) whose values differ.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let mut paths = Vec::new();
    compare(
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
        "",
        1,
        &mut paths,
    );
    paths
}

fn compare(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    prefix: &str,
    depth: u8,
    paths: &mut Vec<String>,
) {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        let path = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
        match (old, new) {
            (Some(Value::Object(old)), Some(Value::Object(new))) if depth > 0 => {
                compare(old, new, &path, depth - 1, paths);
            }
            _ => paths.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_the_top_level_keys_and_the_area_keys_that_differ() {
        let before = json!({"nome_processo": "a", "area": {"codigo": "X", "nome": "N"},
            "etapas": [{"descricao": "1"}], "status": "draft"});
        let after = json!({"nome_processo": "a", "area": {"codigo": "Y", "nome": "N"},
            "etapas": [{"descricao": "2"}], "status": "draft", "a/b": 1});
        assert_eq!(
            changed_paths(&before, &after),
            vec!["/a~1b", "/area/codigo", "/etapas"]
        );
        assert!(changed_paths(&before, &before).is_empty());
    }
}
