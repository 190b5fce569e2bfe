//! Bad input: one clear error naming the file and the fault, a non-zero exit, and the warehouse left
//! at its previous version.

use super::common::*;

use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Loads a good pull, then ingests a damaged copy and checks the refusal.
fn refuse(damage: impl Fn(&Path) -> String, expect: &[&str]) {
    let env = Env::new();
    let pull = env.generate("pull", 9, "mixed");
    assert_ok(&env.ingest(&pull), "first ingest");
    let before = data_log_files(&env.warehouse());
    let count = env.count("SELECT count(*) FROM enrollments");
    let bad: PathBuf = env.path("bad");
    copy_dir(&pull, &bad);
    let file = damage(&bad);
    let o = env.ingest(&bad);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "ingest of a damaged pull succeeded: {stderr}");
    assert_eq!(o.status.code(), Some(1));
    let message: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(message.len(), 1, "one error line expected, got: {stderr}");
    assert!(message[0].contains(&file), "the error does not name {file}: {stderr}");
    for e in expect {
        assert!(message[0].contains(e), "the error does not say '{e}': {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(data_log_files(&env.warehouse()), before, "the warehouse moved to a new version");
    assert_eq!(env.count("SELECT count(*) FROM enrollments"), count);
    // The failed run is in the run log, with the same message.
    let failed = env.sql_csv("SELECT message FROM ingest_runs WHERE status = 'failed'");
    assert_eq!(failed.lines().count(), 2, "one failed run expected: {failed}");
    assert!(failed.contains(&file), "the run log does not name {file}: {failed}");
}

/// `_delta_log` files of every table but the run log.
fn data_log_files(warehouse: &Path) -> Vec<String> {
    log_files(warehouse).into_iter().filter(|f| !f.starts_with("ingest_runs/")).collect()
}

#[test]
fn missing_feed_is_refused() {
    refuse(
        |d| {
            std::fs::remove_file(d.join("buildings.csv")).unwrap();
            "buildings".to_string()
        },
        &["has no buildings feed"],
    );
}

#[test]
fn empty_file_is_refused() {
    refuse(
        |d| {
            std::fs::write(d.join("dltv_equipment.csv"), b"").unwrap();
            "dltv_equipment.csv".to_string()
        },
        &["is empty"],
    );
}

#[test]
fn missing_required_column_is_refused() {
    refuse(
        |d| {
            let p = d.join("budget_2569.csv");
            let text = std::fs::read_to_string(&p).unwrap();
            let (header, rest) = text.split_once('\n').unwrap();
            std::fs::write(&p, format!("{}\n{}", header.replace("document_no", "doc_number"), rest)).unwrap();
            "budget_2569.csv".to_string()
        },
        &["no column document_no"],
    );
}

#[test]
fn missing_thai_column_in_tis620_file_is_refused() {
    refuse(
        |d| {
            let p = d.join("students_2569-06-10.csv");
            let bytes = std::fs::read(&p).unwrap();
            let (text, _, _) = encoding_rs::WINDOWS_874.decode(&bytes);
            let text = text.replacen("วันเกิด", "วันที่เกิดจ้า", 1);
            let (out, _, _) = encoding_rs::WINDOWS_874.encode(&text);
            std::fs::write(&p, out).unwrap();
            "students_2569-06-10.csv".to_string()
        },
        &["no column birth_date", "วันเกิด"],
    );
}

#[test]
fn truncated_xlsx_is_refused() {
    refuse(
        |d| {
            let p = d.join("tests_2568.xlsx");
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            "tests_2568.xlsx".to_string()
        },
        &["not a readable Excel workbook"],
    );
}

#[test]
fn unreadable_encoding_is_refused() {
    refuse(
        |d| {
            let p = d.join("areas.csv");
            let text = std::fs::read_to_string(&p).unwrap();
            let utf16: Vec<u8> = [0xFFu8, 0xFE].into_iter().chain(text.encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
            std::fs::write(&p, utf16).unwrap();
            "areas.csv".to_string()
        },
        &["cannot be decoded", "UTF-16"],
    );
}

#[test]
fn binary_garbage_is_refused() {
    refuse(
        |d| {
            let p = d.join("schools.csv");
            let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80).collect();
            std::fs::write(&p, garbage).unwrap();
            "schools.csv".to_string()
        },
        &["cannot be decoded"],
    );
}

#[test]
fn snapshot_file_with_another_snapshots_rows_is_refused() {
    refuse(
        |d| {
            // The 10 November export saved under the name of a June snapshot.
            std::fs::rename(d.join("students_2568-11-10.csv"), d.join("students_2568-06-11.csv")).unwrap();
            "students_2568-06-11.csv".to_string()
        },
        &["is named for snapshot 2025-06-11 but holds rows of snapshot 2025-11-10"],
    );
}

#[test]
fn missing_pull_folder_is_refused() {
    let env = Env::new();
    let o = env.ingest(&env.path("no-such-pull"));
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("no-such-pull") && stderr.starts_with("error:"), "{stderr}");
}
