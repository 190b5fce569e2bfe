//! Long outputs kept as reviewed snapshots (insta): the four-domain report of an area as its reader
//! sees the text, and the catalogue as psql shows it to an analyst. A change to either shows up as a
//! diff to review (`cargo insta review`, or `INSTA_UPDATE=always` and `git diff`), not as a silent drift.

use crate::common::*;
use crate::server::{PASSWORD, Server, add_user};

/// The text a reader sees on a web page, one line per paragraph, heading, caption, row or card
/// line, cells separated by ` | `; styles and chart drawings left out (their figures are in the
/// charts' own tables).
fn page_text(html: &str) -> String {
    let mut s = html.to_string();
    for (open, close) in [("<style>", "</style>"), ("<svg", "</svg>")] {
        while let (Some(a), Some(b)) = (s.find(open), s.find(close)) {
            if b < a {
                break;
            }
            s.replace_range(a..b + close.len(), "");
        }
    }
    for end in ["</p>", "</h1>", "</h2>", "</h3>", "</caption>", "</tr>", "</li>", "</div>", "</summary>", "</title>"] {
        s = s.replace(end, "\n");
    }
    for end in ["</td>", "</th>"] {
        s = s.replace(end, " | ");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&");
    text.lines()
        .map(|l| l.trim().trim_end_matches('|').trim_end())
        .filter(|l| !l.is_empty())
        // The line naming the data version and when it was published and made changes every run.
        .map(|l| if l.contains("ข้อมูลชุดที่") { "[data version and time]" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_four_domain_report_of_an_area_reads_as_reviewed() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    let area = env.first("SELECT min(area_code) FROM areas");
    let out = env.path("reports");
    let o = env.cmd().args(["report", "--area", &area, "--format", "html", "--out"]).arg(&out).output().unwrap();
    assert_ok(&o, "khlang report");
    let html = std::fs::read_to_string(out.join(format!("area_{area}.html"))).unwrap();
    insta::assert_snapshot!(page_text(&html));
}

#[test]
fn the_catalogue_reads_to_psql_as_reviewed() {
    let env = Env::new();
    let pull = env.generate("pull", 11, "mixed");
    assert_ok(&env.ingest(&pull), "ingest");
    add_user(&env, "ana", "analyst", &[]);
    let server = Server::start(&env, &[]);
    let mut shown = String::new();
    for command in ["\\dt", "\\d enrollments", "\\d school_snapshot_summary", "\\dv"] {
        let o = server.psql("ana", PASSWORD, &["-c", command]);
        assert_ok(&o, command);
        shown.push_str(&format!("=== {command}\n{}\n", String::from_utf8(o.stdout).unwrap().trim_end()));
    }
    insta::assert_snapshot!(shown);
}
