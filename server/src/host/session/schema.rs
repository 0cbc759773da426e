//! The part of JSON Schema a stop configuration's `schema` is checked with
//! (docs/coop-protocol.md, "Stop and start configuration"): `type`, `enum`, `const`,
//! `required`, `properties`, `additionalProperties: false` and `items`; `true` accepts
//! anything, `false` nothing. Other keywords constrain nothing here.

use serde_json::{Map, Value};

/// Whether `schema` is a schema at all (an object or a boolean).
pub fn is_schema(schema: &Value) -> bool {
    matches!(schema, Value::Object(_) | Value::Bool(_))
}

/// Checks `value`; the error says where and why it fails.
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    at(schema, value, "body")
}

fn at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let rules = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: nothing is accepted here")),
        Value::Object(rules) => rules,
        _ => return Ok(()),
    };
    if let Some(types) = rules.get("type") {
        let names: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|t| has_type(value, t)) {
            return Err(format!("{path}: expected {}", names.join(" or ")));
        }
    }
    if let Some(Value::Array(allowed)) = rules.get("enum") {
        if !allowed.contains(value) {
            return Err(format!(
                "{path}: not one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    if let Some(wanted) = rules.get("const") {
        if wanted != value {
            return Err(format!("{path}: expected {wanted}"));
        }
    }
    match value {
        Value::Object(fields) => object(rules, fields, path),
        Value::Array(items) => match rules.get("items") {
            Some(item) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| at(item, v, &format!("{path}[{i}]"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

fn object(
    rules: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = rules.get("required") {
        if let Some(missing) = required
            .iter()
            .filter_map(Value::as_str)
            .find(|name| !fields.contains_key(*name))
        {
            return Err(format!("{path}: missing {missing:?}"));
        }
    }
    let properties = rules.get("properties").and_then(Value::as_object);
    for (name, field) in fields {
        match properties.and_then(|p| p.get(name)) {
            Some(rule) => at(rule, field, &format!("{path}.{name}"))?,
            None if rules.get("additionalProperties") == Some(&Value::Bool(false)) => {
                return Err(format!("{path}: unexpected field {name:?}"));
            }
            None => {}
        }
    }
    Ok(())
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["done", "blocked"]},
                "notes": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": false
        });
        assert!(check(&schema, &json!({"status": "done", "notes": ["a"]})).is_ok());
        let fails = |body: Value| check(&schema, &body).unwrap_err();
        assert!(fails(json!({})).contains("missing \"status\""));
        assert!(fails(json!({"status": "maybe"})).contains("body.status"));
        assert!(fails(json!({"status": "done", "notes": [1]})).contains("body.notes[0]"));
        assert!(fails(json!({"status": "done", "x": 1})).contains("\"x\""));
        assert!(fails(json!("done")).contains("expected object"));
        assert!(check(&json!(true), &json!(null)).is_ok());
        assert!(check(&json!(false), &json!(1)).is_err());
        assert!(check(&json!({"type": ["integer", "null"]}), &json!(null)).is_ok());
        assert!(check(&json!({"type": "integer"}), &json!(1.5)).is_err());
        assert!(is_schema(&json!({})) && !is_schema(&json!("object")));
    }
}
