//! The settings: every key layered defaults → `khlang.toml` → `KHLANG_*` → flag, and `config show`
//! naming where each value came from.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use crate::common::Env;

/// `khlang config show` in the test's folder, with no `KHLANG_*` variable but `vars`.
fn show(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_khlang"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KHLANG_")) {
        c.env_remove(k);
    }
    c.envs(vars.iter().copied()).args(args).args(["config", "show"]).current_dir(env.dir.path()).output().unwrap()
}

/// Each key's (value, source) from `config show`'s lines `key = value  # source`.
fn settings(o: &Output) -> BTreeMap<String, (String, String)> {
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "config show failed: {}", String::from_utf8_lossy(&o.stderr));
    text.lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("# ").and_then(|r| r.split_once(" is not set  (")) {
                return Some((rest.0.to_string(), (String::new(), rest.1.trim_end_matches(')').to_string())));
            }
            let (kv, source) = l.rsplit_once("  # ")?;
            let (k, v) = kv.split_once(" = ")?;
            Some((k.to_string(), (v.to_string(), source.to_string())))
        })
        .collect()
}

#[test]
fn every_key_is_set_by_file_variable_and_flag_and_shown_with_its_source() {
    let env = Env::new();
    let defaults = settings(&show(&env, &[], &[]));
    assert!(defaults.len() >= 18, "{defaults:?}");
    assert!(defaults.values().all(|(_, source)| source == "default"), "{defaults:?}");
    assert_eq!(defaults["query_timeout_seconds"].0, "300");
    assert_eq!(defaults["wire_auth"].0, "\"scram-sha-256\"");

    // A value of the key's type that differs from the default, as TOML and as text.
    let sample = |key: &str, default: &str| -> (String, String) {
        match key {
            "tls_required" => ("true".into(), "true".into()),
            "wire_auth" => ("\"password\"".into(), "password".into()),
            "cluster" => ("\"df://10.0.0.5:50050\"".into(), "df://10.0.0.5:50050".into()),
            "tls_cert" | "tls_key" => (format!("\"/etc/khlang/{key}.pem\""), format!("/etc/khlang/{key}.pem")),
            _ => match default.parse::<u64>() {
                Ok(n) => ((n + 7).to_string(), (n + 7).to_string()),
                Err(_) => {
                    let text = format!("{}x", default.trim_matches('"'));
                    (format!("\"{text}\""), text)
                }
            },
        }
    };
    let file = env.path("layer.toml");
    let file_arg = file.display().to_string();
    for (key, (default, _)) in &defaults {
        if key == "log" || key == "timezone" || key == "schedule" {
            continue; // checked below with values these keys accept
        }
        let (toml_value, text) = sample(key, default);
        std::fs::write(&file, format!("{key} = {toml_value}\n")).unwrap();
        let from_file = settings(&show(&env, &[], &["--config", &file_arg]));
        assert_eq!(from_file[key], (toml_value.clone(), format!("file {file_arg}")), "{key} from the file");
        let var = format!("KHLANG_{}", key.to_uppercase());
        let from_env = settings(&show(&env, &[(&var, &text)], &["--config", &file_arg]));
        assert_eq!(from_env[key], (toml_value.clone(), var.clone()), "{key}: the variable over the file");
        let flag = format!("--{}", key.replace('_', "-"));
        let from_flag = settings(&show(&env, &[(&var, &text)], &["--config", &file_arg, &format!("{flag}={text}")]));
        assert_eq!(from_flag[key].1, format!("flag {flag}"), "{key}: the flag over the variable");
    }
    for (key, value) in [("log", "debug"), ("timezone", "Asia/Tokyo"), ("schedule", "30 1 * * *")] {
        let var = format!("KHLANG_{}", key.to_uppercase());
        let s = settings(&show(&env, &[(&var, value)], &[]));
        assert_eq!(s[key], (format!("\"{value}\""), var.clone()), "{key}");
        let s = settings(&show(&env, &[(&var, "")], &[&format!("--{key}={value}")]));
        assert_eq!(s[key], (format!("\"{value}\""), format!("flag --{key}")), "{key}: an empty variable counts as unset");
    }

    // The file alone holds storage and sources; secrets are hidden.
    std::fs::write(&file, "[storage]\naws_region = \"th-1\"\naws_secret_access_key = \"s3cr3t\"\n\n[[sources]]\nname = \"dmc\"\nfrom = \"/srv/pull\"\n").unwrap();
    let o = show(&env, &[], &["--config", &file_arg]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("aws_region = \"th-1\"") && text.contains("(hidden)") && !text.contains("s3cr3t"), "{text}");
    assert!(text.contains("[[sources]]") && text.contains("from = \"/srv/pull\""), "{text}");

    // One sentence naming the setting and its layer.
    let refused = |o: Output, expect: &[&str]| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success(), "accepted: {}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for e in expect {
            assert!(err.contains(e), "{e} not in {err}");
        }
    };
    refused(show(&env, &[("KHLANG_RETRIES", "three")], &[]), &["retries", "KHLANG_RETRIES"]);
    refused(show(&env, &[], &["--query-memory-mb=0"]), &["query_memory_mb", "above 0"]);
    refused(show(&env, &[("KHLANG_TLS_REQUIRED", "maybe")], &[]), &["tls_required", "KHLANG_TLS_REQUIRED", "maybe"]);
    std::fs::write(&file, "retires = 3\n").unwrap();
    refused(show(&env, &[], &["--config", &file_arg]), &["retires", &file_arg]);
    refused(show(&env, &[], &["--config", "/nonexistent/khlang.toml"]), &["/nonexistent/khlang.toml"]);
    // ./khlang.toml is read when no file is named.
    std::fs::write(env.path("khlang.toml"), "retries = 9\n").unwrap();
    let s = settings(&show(&env, &[], &[]));
    assert_eq!(s["retries"], ("9".into(), "file khlang.toml".into()));
}
