//! A response-size budget: what one request may make the server build and send.
//!
//! Static cost can bound how many fields a document selects, not how large each one is: a POP's
//! `document` or `rawPayload` may be megabytes, and 50 aliases of it are 50 copies. So every leaf
//! value a request resolves (a scalar, an enum, a JSON value) is weighed by its serialized size as
//! it is produced and charged to the request's budget (`GRAPHQL_MAX_RESPONSE_BYTES`); a field
//! that would exceed it answers `RESPONSE_TOO_LARGE` instead of its value, so memory stays
//! bounded by the budget rather than growing with the number of copies asked for. A mutation whose
//! result is cut this way still happened: its error is on the field, not the operation.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Installs a fresh budget of `max_bytes` on every request.
#[derive(Debug, Clone, Copy)]
pub struct BudgetExtension {
    max_bytes: usize,
}

impl BudgetExtension {
    /// Budgets of `max_bytes` per request.
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl ExtensionFactory for BudgetExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget {
            max_bytes: self.max_bytes,
            spent: AtomicUsize::new(0),
        })
    }
}

struct Budget {
    max_bytes: usize,
    spent: AtomicUsize,
}

#[async_trait::async_trait]
impl Extension for Budget {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let is_leaf = info.field.selection_set.node.items.is_empty();
        let pos = info.field.name.pos;
        let value = next.run(ctx, info).await?;
        if !is_leaf {
            return Ok(value);
        }
        let size = value.as_ref().map_or(4, serialized_size);
        let spent = self.spent.fetch_add(size, Ordering::Relaxed) + size;
        if spent > self.max_bytes {
            let mut error = async_graphql::ServerError::new(
                format!(
                    "the response would be over {} bytes; select fewer or smaller fields, or page \
                     with a smaller `first`",
                    self.max_bytes
                ),
                Some(pos),
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "RESPONSE_TOO_LARGE");
            return Err(error);
        }
        Ok(value)
    }
}

/// The size of `value` as JSON, closely estimated without serializing it (strings count their
/// bytes plus quotes; escapes are not counted).
pub fn serialized_size(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        Value::Enum(name) => name.len() + 2,
        Value::Binary(bytes) => bytes.len() * 4 / 3 + 4,
        Value::List(items) => items.iter().map(|v| serialized_size(v) + 1).sum::<usize>() + 2,
        Value::Object(fields) => {
            fields
                .iter()
                .map(|(k, v)| k.len() + 4 + serialized_size(v))
                .sum::<usize>()
                + 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_close_to_the_serialized_length() {
        let json = serde_json::json!({
            "nome": "Conceder pensão",
            "etapas": [{"id": 1, "ok": true, "x": null}, {"n": 1.5e-7}],
            "vazio": {}
        });
        let value = Value::from_json(json.clone()).unwrap();
        let real = serde_json::to_string(&json).unwrap().len();
        let estimate = serialized_size(&value);
        assert!(
            estimate >= real && estimate <= real + real / 5,
            "{estimate} vs {real}"
        );
    }
}
