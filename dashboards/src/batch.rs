//! Many four-domain reports in one run (`khlang report`): every area's report for OBEC, or a list of
//! schools', written as files. One session over one published state serves them all, so every file of
//! a batch reads the same data version.

use std::path::{Path, PathBuf};

use khlang_query::{Principal, QueryService};

use crate::report::{self, Params, ReportError, Subject};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Html,
    Pdf,
    Xlsx,
}

impl FileFormat {
    pub fn ext(self) -> &'static str {
        match self {
            FileFormat::Html => "html",
            FileFormat::Pdf => "pdf",
            FileFormat::Xlsx => "xlsx",
        }
    }
}

/// The codes of every area in the published state, in order.
pub async fn all_areas(q: &QueryService) -> Result<Vec<String>, ReportError> {
    let b = q.sql("SELECT area_code FROM areas ORDER BY area_code").await?;
    Ok(khlang_query::column_strings(&b))
}

/// Writes each subject's report in each format to `out` as `{area|school}_{code}.{ext}`; calls
/// `done` after each subject. Stops at the first failure, naming the subject.
pub async fn write(q: &QueryService, subjects: &[Subject], params: &Params, formats: &[FileFormat], out: &Path, done: &(dyn Fn(&Subject) + Sync)) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(out).map_err(|e| ReportError::Render { format: "files", message: format!("cannot create {}: {e}", out.display()) })?;
    let commit = q.warehouse().committed().await.map_err(|e| ReportError::Query(e.to_string()))?;
    let ctx = q.session_for_commit(&Principal::local_admin(), commit.as_ref()).await?;
    let public = q.session_for_commit(&Principal::public(), commit.as_ref()).await?;
    let mut written = Vec::new();
    // Rendering one report overlaps with querying the next.
    let mut rendering: Option<tokio::task::JoinHandle<Result<Vec<PathBuf>, ReportError>>> = None;
    for subject in subjects {
        let r = report::build(&ctx, &public, commit.as_ref(), subject, params, report::Depth::Full).await.map_err(|e| match e {
            ReportError::NotFound(m) | ReportError::BadParameter(m) => ReportError::BadParameter(format!("{} {}: {m}", subject.kind(), subject.code())),
            other => other,
        })?;
        if let Some(h) = rendering.take() {
            written.extend(h.await.map_err(|e| ReportError::Render { format: "report", message: e.to_string() })??);
        }
        let formats = formats.to_vec();
        let out = out.to_path_buf();
        rendering = Some(tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            for f in formats {
                let bytes = match f {
                    FileFormat::Html => crate::pages::report_html(&r).into_bytes(),
                    printed => r.doc().render(printed)?,
                };
                let path = out.join(format!("{}_{}.{}", r.subject.kind(), r.subject.code(), f.ext()));
                std::fs::write(&path, bytes).map_err(|e| ReportError::Render { format: "files", message: format!("cannot write {}: {e}", path.display()) })?;
                files.push(path);
            }
            Ok(files)
        }));
        done(subject);
    }
    if let Some(h) = rendering.take() {
        written.extend(h.await.map_err(|e| ReportError::Render { format: "report", message: e.to_string() })??);
    }
    Ok(written)
}
