//! Unseal keys as runbooks hand them over: a list, or one string (a secret
//! input) holding a JSON list or keys separated by newlines or commas.

use serde_json::Value;

/// The keys in `value`, trimmed, empty entries dropped. The error never
/// quotes the value: it is secret.
pub fn parse(value: &Value) -> Result<Vec<String>, String> {
    let keys: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                _ => Err("`keys` must hold strings (unseal keys)".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Value::String(s) if s.trim_start().starts_with('[') => {
            let parsed: Value = serde_json::from_str(s.trim()).map_err(|_| {
                "`keys` starts with `[` but is not a JSON list of strings".to_string()
            })?;
            return parse(&parsed);
        }
        Value::String(s) => s.split(['\n', ',']).map(|k| k.trim().to_string()).collect(),
        _ => return Err("`keys` must be a list of unseal keys or a string holding them".into()),
    };
    let keys: Vec<String> = keys.into_iter().filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return Err("`keys` is empty; give at least the threshold number of unseal keys".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_lists_json_strings_and_separated_strings() {
        let want = vec!["k1".to_string(), "k2".to_string()];
        assert_eq!(parse(&json!(["k1", " k2 "])).unwrap(), want);
        assert_eq!(parse(&json!("[\"k1\",\"k2\"]")).unwrap(), want);
        assert_eq!(parse(&json!("k1\nk2\n")).unwrap(), want);
        assert_eq!(parse(&json!("k1, k2")).unwrap(), want);
        assert!(parse(&json!("")).unwrap_err().contains("empty"));
        let err = parse(&json!("[not-json-secret")).unwrap_err();
        assert!(
            !err.contains("not-json-secret"),
            "the value is secret: {err}"
        );
    }
}
