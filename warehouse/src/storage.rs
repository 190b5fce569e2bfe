//! How to reach the object store a warehouse lives on: the standard `AWS_*` settings, from the
//! configuration file's `[storage]` table and the environment (which wins).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr as _;

use object_store::aws::AmazonS3ConfigKey;

/// The object store settings: `settings` (keys as in the environment, any case: `aws_endpoint_url`,
/// `AWS_REGION`, …) overridden by the `AWS_*` variables among `env`. An unknown key in `settings`
/// is refused; unrelated `AWS_*` variables (e.g. `AWS_PROFILE`) are left to the SDKs.
pub fn options(settings: &BTreeMap<String, String>, env: impl IntoIterator<Item = (String, String)>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (key, value) in settings {
        let key = key.to_ascii_lowercase();
        if AmazonS3ConfigKey::from_str(&key).is_err() {
            return Err(format!("storage setting {key} is not an S3 setting (such as aws_endpoint_url, aws_region, aws_access_key_id, aws_allow_http)"));
        }
        out.insert(key, value.clone());
    }
    for (key, value) in env {
        let key = key.to_ascii_lowercase();
        if key.starts_with("aws_") && AmazonS3ConfigKey::from_str(&key).is_ok() {
            out.insert(key, value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file_and_unknown_keys_are_refused() {
        let file = BTreeMap::from([("AWS_REGION".to_string(), "ap-southeast-7".to_string()), ("aws_endpoint_url".into(), "http://file:9000".into())]);
        let env = [("AWS_ENDPOINT_URL".to_string(), "http://env:9000".to_string()), ("AWS_PROFILE".into(), "x".into()), ("HOME".into(), "/root".into())];
        let o = options(&file, env).unwrap_or_default();
        assert_eq!(o.get("aws_region").map(String::as_str), Some("ap-southeast-7"));
        assert_eq!(o.get("aws_endpoint_url").map(String::as_str), Some("http://env:9000"));
        assert_eq!(o.len(), 2, "{o:?}");
        let bad = BTreeMap::from([("aws_endpoint_uri".to_string(), "x".to_string())]);
        assert!(options(&bad, []).is_err_and(|e| e.contains("aws_endpoint_uri")));
    }
}
