//! Typed reads of a parsed JSON value: the browser's (`JsValue`, from `JSON.parse`) in the
//! dashboard, serde_json's [`Value`] in tests. The decoders that skip serde in the WASM bundle
//! (`live::decode`) are written once against this trait, so a native test can hold them
//! against serde's own decoding of the same text.

use serde_json::Value;

/// A parsed JSON value.
pub trait Json: Sized {
    /// Field `key` of an object (`undefined`/`null` when missing or not an object).
    fn field(&self, key: &str) -> Self;
    /// The value as a string.
    fn string(&self) -> Option<String>;
    /// The value as a number.
    fn number(&self) -> Option<f64>;
    /// The value as a boolean.
    fn boolean(&self) -> Option<bool>;
    /// The elements of an array.
    fn items(&self) -> Option<Vec<Self>>;
    /// Whether the value is an object (arrays included, as JavaScript says).
    fn is_object(&self) -> bool;
    /// The value as serde_json's tree (`null` for `undefined`).
    fn to_value(&self) -> Value;

    /// String field `key`.
    fn str(&self, key: &str) -> Option<String> {
        self.field(key).string()
    }
    /// Numeric field `key`.
    fn num(&self, key: &str) -> Option<f64> {
        self.field(key).number()
    }
    /// Boolean field `key`, false when missing.
    fn flag(&self, key: &str) -> bool {
        self.field(key).boolean().unwrap_or(false)
    }
    /// The array at `key`, `None` when missing or not an array.
    fn list(&self, key: &str) -> Option<Vec<Self>> {
        self.field(key).items()
    }
    /// The strings of the array at `key`, `None` when missing or when one is not a string.
    fn strings(&self, key: &str) -> Option<Vec<String>> {
        self.list(key)?.iter().map(Json::string).collect()
    }
}

impl Json for Value {
    fn field(&self, key: &str) -> Self {
        self.get(key).cloned().unwrap_or(Value::Null)
    }
    fn string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
    fn is_object(&self) -> bool {
        Value::is_object(self) || Value::is_array(self)
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Json;
    use js_sys::{Array, Object, Reflect};
    use serde_json::{Map, Number, Value};
    use wasm_bindgen::{JsCast, JsValue};

    impl Json for JsValue {
        fn field(&self, key: &str) -> Self {
            Reflect::get(self, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
        }
        fn string(&self) -> Option<String> {
            self.as_string()
        }
        fn number(&self) -> Option<f64> {
            self.as_f64()
        }
        fn boolean(&self) -> Option<bool> {
            self.as_bool()
        }
        fn items(&self) -> Option<Vec<Self>> {
            Some(self.dyn_ref::<Array>()?.iter().collect())
        }
        fn is_object(&self) -> bool {
            JsValue::is_object(self)
        }
        fn to_value(&self) -> Value {
            if let Some(b) = self.as_bool() {
                return Value::Bool(b);
            }
            if let Some(n) = self.as_f64() {
                // Integers stay integers, as serde_json would have parsed them.
                return if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    Value::Number(Number::from(n as i64))
                } else {
                    Number::from_f64(n).map_or(Value::Null, Value::Number)
                };
            }
            if let Some(s) = self.as_string() {
                return Value::String(s);
            }
            if let Some(array) = self.dyn_ref::<Array>() {
                return Value::Array(array.iter().map(|e| e.to_value()).collect());
            }
            if JsValue::is_object(self) {
                let mut map = Map::new();
                for key in Object::keys(self.unchecked_ref::<Object>()).iter() {
                    if let Some(k) = key.as_string() {
                        map.insert(k.clone(), self.field(&k).to_value());
                    }
                }
                return Value::Object(map);
            }
            Value::Null
        }
    }
}
