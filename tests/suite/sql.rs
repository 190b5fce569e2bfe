//! SQL behaviour in sqllogictest-style files (`tests/sql/*.slt`), run through `khlang sql` against a
//! generated, ingested area. Blocks:
//!
//! ```text
//! query <column types> [rowsort]
//! SELECT ...
//! ----
//! expected row, values separated by single spaces
//!
//! statement error <text the error must contain>
//! SELECT ...
//! ```

use super::common::*;

enum Block {
    Query { sql: String, rowsort: bool, expected: Vec<String>, line: usize },
    Error { sql: String, contains: String, line: usize },
}

fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        if let Some(rest) = l.strip_prefix("query ") {
            let rowsort = rest.split_whitespace().any(|w| w == "rowsort");
            i += 1;
            let mut sql = Vec::new();
            while i < lines.len() && lines[i].trim_end() != "----" {
                sql.push(lines[i]);
                i += 1;
            }
            i += 1;
            let mut expected = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                expected.push(lines[i].trim_end().to_string());
                i += 1;
            }
            blocks.push(Block::Query { sql: sql.join("\n"), rowsort, expected, line: start });
        } else if let Some(rest) = l.strip_prefix("statement error") {
            i += 1;
            let mut sql = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                sql.push(lines[i]);
                i += 1;
            }
            blocks.push(Block::Error { sql: sql.join("\n"), contains: rest.trim().to_string(), line: start });
        } else {
            panic!("line {start}: unknown block '{l}'");
        }
    }
    blocks
}

#[test]
fn sql_logic_files() {
    let env = Env::new();
    let pull = env.generate("pull", 17, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "slt")).collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for b in parse(&std::fs::read_to_string(&f).unwrap()) {
            match b {
                Block::Query { sql, rowsort, expected, line } => {
                    let o = env.cmd().args(["sql", "--format", "csv", &sql]).output().unwrap();
                    if !o.status.success() {
                        failures.push(format!("{name}:{line}: {}", String::from_utf8_lossy(&o.stderr)));
                        continue;
                    }
                    let mut rows: Vec<String> = csv::Reader::from_reader(o.stdout.as_slice())
                        .records()
                        .map(|r| r.unwrap().iter().map(|v| if v.is_empty() { "NULL" } else { v }).collect::<Vec<_>>().join(" "))
                        .collect();
                    let mut want = expected.clone();
                    if rowsort {
                        rows.sort();
                        want.sort();
                    }
                    if rows != want {
                        failures.push(format!("{name}:{line}: expected\n{}\ngot\n{}", want.join("\n"), rows.join("\n")));
                    }
                }
                Block::Error { sql, contains, line } => {
                    let o = env.cmd().args(["sql", &sql]).output().unwrap();
                    let err = String::from_utf8_lossy(&o.stderr);
                    if o.status.success() || !err.contains(&contains) || !err.starts_with("error:") {
                        failures.push(format!("{name}:{line}: expected an error containing '{contains}', got status {:?}: {err}", o.status.code()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
