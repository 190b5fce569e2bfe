//! Reports and rendered pages cached by the published warehouse state they were computed from: a new
//! load publishes a new state and everything cached is dropped with the old one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use khlang_query::{Commit, Principal, SqlService};
use tokio::sync::OnceCell;

use crate::table::Cells as _;
use crate::report::{self, Depth, Params, Report, ReportError, Subject};

/// How often the published state is looked up; in between, pages are served from the cache.
const RECHECK: Duration = Duration::from_secs(1);
/// A bound on cached entries (areas × snapshots × pages); past it the cache starts again.
const MAX_ENTRIES: usize = 20_000;
/// How often a running server looks for a newly published state to make ready before anyone asks.
const WARM_EVERY: Duration = Duration::from_secs(5);
/// Users whose sessions are made ready ahead; the query service keeps 512 kinds of caller per state.
const WARM_USERS: usize = 400;

/// Codes and names of every area and school in the published state, to tell "no such area" (404)
/// from "not yours" (403) before anything is computed.
#[derive(Debug, Default)]
pub struct Directory {
    pub areas: HashMap<String, String>,
    /// school code → (area code, school name, district code)
    pub schools: HashMap<String, (String, String, String)>,
}

type Slot<T> = Arc<OnceCell<Arc<T>>>;

#[derive(Default)]
struct State {
    seq: u64,
    checked: Option<Instant>,
    commit: Option<Arc<Commit>>,
    directory: Slot<Directory>,
    reports: HashMap<(Subject, Params, Depth), Slot<Report>>,
    rendered: HashMap<String, Arc<Vec<u8>>>,
}

#[derive(Clone, Default)]
pub struct ReportCache {
    state: Arc<Mutex<State>>,
    /// The last published state made ready ahead by [`ReportCache::keep_warm`].
    warmed: Arc<Mutex<Option<u64>>>,
}

impl ReportCache {
    /// The latest published state (looked up at most once a second), dropping what was cached for an older one.
    pub async fn commit(&self, svc: &SqlService) -> Result<Option<Arc<Commit>>, ReportError> {
        if let Ok(s) = self.state.lock()
            && s.checked.is_some_and(|t| t.elapsed() < RECHECK)
        {
            return Ok(s.commit.clone());
        }
        let commit = svc.q.warehouse().committed().await.map_err(|e| ReportError::Query(e.to_string()))?.map(Arc::new);
        let seq = commit.as_ref().map_or(0, |c| c.seq);
        if let Ok(mut s) = self.state.lock() {
            if s.seq != seq || s.checked.is_none() {
                *s = State { seq, ..State::default() };
                s.commit = commit.clone();
            }
            s.checked = Some(Instant::now());
        }
        Ok(commit)
    }

    fn slot<T>(&self, pick: impl FnOnce(&mut State) -> Slot<T>) -> Slot<T> {
        match self.state.lock() {
            Ok(mut s) => pick(&mut s),
            Err(_) => Arc::new(OnceCell::new()),
        }
    }

    pub async fn directory(&self, svc: &SqlService) -> Result<Arc<Directory>, ReportError> {
        let commit = self.commit(svc).await?;
        let slot = self.slot(|s| s.directory.clone());
        slot.get_or_try_init(|| async {
            let ctx = svc.q.session_for_commit(&Principal::local_admin(), commit.as_deref()).await?;
            let mut d = Directory::default();
            if ctx.table_exist("areas").unwrap_or(false) {
                let b = ctx.sql("SELECT area_code, area_name FROM areas").await.map_err(q)?.collect().await.map_err(q)?;
                for r in report::cells(&b)? {
                    d.areas.insert(r.at(0).text(), r.at(1).text());
                }
            }
            if ctx.table_exist("schools").unwrap_or(false) {
                let b = ctx.sql("SELECT school_code, area_code, school_name, district_code FROM schools").await.map_err(q)?.collect().await.map_err(q)?;
                for r in report::cells(&b)? {
                    d.schools.insert(r.at(0).text(), (r.at(1).text(), r.at(2).text(), r.at(3).text()));
                }
            }
            Ok::<_, ReportError>(Arc::new(d))
        })
        .await
        .cloned()
    }

    /// Makes each newly published state ready before anyone asks (checked every few seconds, for as
    /// long as the server runs): the directory of areas and schools, the operator's and the public's
    /// sessions, then the session of every kind of signed-up user. Without this, the first page
    /// after a start or a load pays for all of it.
    pub async fn keep_warm(self, svc: SqlService) {
        loop {
            match self.commit(&svc).await {
                Ok(commit) => {
                    let seq = commit.as_ref().map_or(0, |c| c.seq);
                    if self.warmed() != Some(seq) {
                        let started = Instant::now();
                        match self.warm(&svc, commit.as_deref()).await {
                            Ok(users) => tracing::info!(state = seq, users, ms = started.elapsed().as_millis() as u64, "published state ready for the web and SQL"),
                            Err(e) => tracing::warn!(state = seq, error = %e, "could not make the published state ready ahead; pages will build it when asked"),
                        }
                        if let Ok(mut w) = self.warmed.lock() {
                            *w = Some(seq);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot look up the published state"),
            }
            tokio::time::sleep(WARM_EVERY).await;
        }
    }

    /// The last published state made ready ahead (`None` while the server is still starting).
    pub fn warmed(&self) -> Option<u64> {
        self.warmed.lock().ok().and_then(|w| *w)
    }

    /// Builds what the first requests on `commit` need; returns how many users' sessions it built.
    async fn warm(&self, svc: &SqlService, commit: Option<&Commit>) -> Result<usize, ReportError> {
        let q = |e: khlang_query::QueryError| ReportError::Query(e.to_string());
        let (operator, public) = (Principal::local_admin(), Principal::public());
        let (directory, admin, public) = tokio::join!(self.directory(svc), svc.q.session_for_commit(&operator, commit), svc.q.session_for_commit(&public, commit));
        let (directory, _, _) = (directory?, admin.map_err(q)?, public.map_err(q)?);
        let users = svc.users.list().await.map_err(q)?;
        let mut seen = std::collections::HashSet::new();
        for u in users.iter().take(WARM_USERS) {
            let area = u.school.as_ref().and_then(|s| directory.schools.get(s)).map(|(area, _, _)| area.clone());
            // An expired user or one whose school is gone cannot sign in: nothing to make ready.
            let Ok(who) = khlang_query::users::principal(u, area) else { continue };
            if seen.insert((who.role, who.scope.clone())) {
                svc.q.session_for_commit(&who, commit).await.map_err(q)?;
            }
        }
        Ok(seen.len())
    }

    /// The report of `subject`, computed once per published state through `who`'s own session.
    /// Callers check that `who` may see `subject` first: a cached report is only ever that subject's rows.
    /// An overview is taken from the whole report when that is already made.
    pub async fn report(&self, svc: &SqlService, who: &Principal, subject: &Subject, params: &Params, depth: Depth) -> Result<Arc<Report>, ReportError> {
        let commit = self.commit(svc).await?;
        let slot = self.slot(|s| {
            if s.reports.len() > MAX_ENTRIES {
                s.reports.clear();
            }
            let full = (subject.clone(), params.clone(), Depth::Full);
            match s.reports.get(&full) {
                Some(made) if depth == Depth::Overview && made.initialized() => made.clone(),
                _ => s.reports.entry((subject.clone(), params.clone(), depth)).or_default().clone(),
            }
        });
        slot.get_or_try_init(|| async {
            let ctx = svc.q.session_for_commit(who, commit.as_deref()).await?;
            let public = svc.q.session_for_commit(&Principal::public(), commit.as_deref()).await?;
            Ok::<_, ReportError>(Arc::new(report::build(&ctx, &public, commit.as_deref(), subject, params, depth).await?))
        })
        .await
        .cloned()
    }

    /// A rendering (page body, PDF, XLSX) of the current state, made once.
    pub fn rendered(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.state.lock().ok()?.rendered.get(key).cloned()
    }

    pub fn keep(&self, key: String, bytes: Vec<u8>) -> Arc<Vec<u8>> {
        let bytes = Arc::new(bytes);
        if let Ok(mut s) = self.state.lock() {
            if s.rendered.len() > MAX_ENTRIES {
                s.rendered.clear();
            }
            s.rendered.insert(key, bytes.clone());
        }
        bytes
    }
}

fn q(e: impl std::fmt::Display) -> ReportError {
    ReportError::Query(e.to_string())
}
