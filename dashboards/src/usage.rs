//! The yearly report on the warehouse's development and use (แบบ 7.1/7.2 of the ESA's Big Data
//! manual: the record and the report presented to the director), for one Thai fiscal year: the loads
//! and their outcome, rows rejected by rule and how many the next load fixed, schools late against the
//! reporting calendar, users and sign-ins by role, queries, exports and reports by table and month,
//! the most-used saved queries and reports, access requests and publishing approvals.
//!
//! Every figure is SQL over `audit_log`, `ingest_runs` and `rejected_rows` (plus the calendar, the
//! users, the requests and the approvals the warehouse keeps), read as an admin. `khlang usage-report`
//! and `/admin/usage-report` render the same `Doc` as PDF, XLSX or a web page.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use khlang_query::approvals::Approvals;
use khlang_query::office::{self, be_year, ce_year, sql_literal};
use khlang_query::calendar::Calendar;
use khlang_query::requests::{Requests, State as RequestState};
use khlang_query::saved::SAVED_MARK;
use khlang_query::users::Users;
use khlang_query::{Principal, QueryService, Role, SessionContext};
use maud::html;

use crate::batch::FileFormat;
use crate::doc::{Doc, Part};
use crate::msg::admin as a;
use crate::msg::usage as m;
use crate::report::{Cell, Chart, ChartKind, Figure, Kind, ReportError, Table, rows};
use crate::table::Cells as _;
use crate::{calendar, msg, quality, thai};

pub const TITLE: &str = m::TITLE;

/// One Thai fiscal year: 1 October of the year before to 30 September, in Thai time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalYear {
    /// Buddhist Era, e.g. 2570 (1 October 2026 – 30 September 2027).
    pub year: i32,
}

impl FiscalYear {
    pub fn parse(s: &str) -> Result<FiscalYear, ReportError> {
        khlang_query::reference::fiscal_year_be(s)
            .map(|year| FiscalYear { year })
            .ok_or_else(|| ReportError::BadParameter(format!("fiscal year '{s}' is not a Buddhist-Era year like 2570")))
    }

    /// The fiscal year of a day.
    pub fn of(day: NaiveDate) -> FiscalYear {
        FiscalYear { year: khlang_query::reference::fiscal_year_quarter(day.year(), day.month()).0 }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(ce_year(self.year) - 1, 10, 1).unwrap_or_default()
    }

    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(ce_year(self.year), 9, 30).unwrap_or_default()
    }

    /// Whether a moment falls in this year (in Thai time).
    pub fn holds(self, t: DateTime<Utc>) -> bool {
        (self.first_day()..=self.last_day()).contains(&office::date(t))
    }

    /// The SQL condition on a UTC timestamp column for this year on the office's clock.
    pub fn condition(self, column: &str) -> String {
        let utc = |d: NaiveDate| d.and_hms_opt(0, 0, 0).and_then(office::from_local).map(|t| t.naive_utc()).unwrap_or_default();
        let (start, end) = (utc(self.first_day()), utc(self.last_day() + Duration::days(1)));
        format!("{column} >= TIMESTAMP '{}' AND {column} < TIMESTAMP '{}'", start.format("%Y-%m-%dT%H:%M:%S"), end.format("%Y-%m-%dT%H:%M:%S"))
    }

    /// The months of the year up to `until` (all twelve for a past year), as (CE year, month).
    fn months(self, until: NaiveDate) -> Vec<(i32, u32)> {
        let mut out = Vec::new();
        let mut d = self.first_day();
        while d <= self.last_day() && d <= until {
            out.push((d.year(), d.month()));
            d = if d.month() == 12 { NaiveDate::from_ymd_opt(d.year() + 1, 1, 1) } else { NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1) }.unwrap_or(self.last_day() + Duration::days(1));
        }
        out
    }
}

fn month_th((year, month): (i32, u32)) -> String {
    let name = msg::MONTHS.get((month as usize).saturating_sub(1) % 12).copied().unwrap_or_default();
    format!("{name} {}", be_year(year))
}

/// A count cell as a number (0 for NULL).
fn int(c: &Cell) -> i64 {
    c.as_i64().unwrap_or(0)
}

fn fig(key: &'static str, label: &'static str, value: i64, unit: &'static str) -> Figure {
    Figure { key, label, value: Some(value as f64), kind: Kind::Count, unit }
}

fn role_th(role: &str) -> String {
    Role::parse(role).map_or_else(|| role.to_string(), |r| msg::role(r).to_string())
}

/// A report's audit object (`area 56010000 overview`, `quality 2026-06-10 All`) as Thai readers know it.
fn report_th(object: &str) -> String {
    let words: Vec<&str> = object.split(' ').collect();
    let report = |whose: &str, code: &str, ext: &str| format!("{}{} {whose} {code} ({})", msg::C_REPORT, msg::REPORT_TITLE, ext.to_uppercase());
    match words.as_slice() {
        ["area", code, "report", ext] => report(m::AREA, code, ext),
        ["school", code, "report", ext] => report(msg::C_SCHOOL, code, ext),
        ["area", code, "district", d] => format!("{}{} {} {code}", msg::PAGE, khlang_query::reference::district_th(d), m::AREA),
        ["area", code, page] => format!("{}{} {} {code}", msg::PAGE, page_th(page), m::AREA),
        ["school", code, page] => format!("{}{} {} {code}", msg::PAGE, page_th(page), msg::C_SCHOOL),
        ["quality", snapshot, ..] => format!("{} {}", m::QUALITY_REPORT, thai::date_be(snapshot)),
        ["ingest_runs,rejected_rows"] => format!("{}{}", msg::PAGE, msg::NAV_INGEST),
        ["audit_log"] => format!("{}{}", msg::PAGE, msg::NAV_USAGE),
        ["usage", fy, ..] => format!("{} {} {fy}", m::USAGE_REPORT, msg::FISCAL_YEAR),
        _ => object.to_string(),
    }
}

fn page_th(page: &str) -> String {
    match crate::report::Domain::parse(page) {
        Some(d) => d.title().to_string(),
        None if page == "overview" => msg::OVERVIEW.into(),
        None => page.to_string(),
    }
}

/// A report event worth counting: a page or file someone opened, not each chart picture on a page.
const REPORT_EVENTS: &str = "action = 'report' AND object NOT LIKE '% chart %'";

/// The usage report of `fy`, as the warehouse stands now (the calendar judged on `on`: today, or the
/// year's last day for a past year).
pub async fn build(q_svc: &QueryService, fy: FiscalYear, on: NaiveDate) -> Result<Doc, ReportError> {
    let admin = Principal::local_admin();
    let ctx = q_svc.session_for(&admin).await?;
    let wh = q_svc.warehouse().clone();
    let at = fy.condition("at");
    let started = fy.condition("started_at");
    let on = on.min(fy.last_day());
    let months = fy.months(on);
    let has = |t: &str| ctx.table_exist(t).unwrap_or(false);
    let mut parts = Vec::new();

    // 1. Loads and their outcome.
    let mut loads = Part::new(msg::NAV_INGEST, msg::NAV_INGEST);
    if has("ingest_runs") {
        let totals = rows(
            &ctx,
            &format!(
                "SELECT count(DISTINCT run_id), count(DISTINCT run_id) FILTER (WHERE status <> 'ok'), count(*) FILTER (WHERE feed <> '(run)'), \
                        coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) FROM ingest_runs WHERE {started}"
            ),
        )
        .await?;
        let t = totals.first().cloned().unwrap_or_default();
        loads.figures = vec![
            fig("usage_runs", m::F_RUNS, int(t.at(0)), a::C_TIMES),
            fig("usage_runs_failed", m::F_RUNS_FAILED, int(t.at(1)), a::C_TIMES),
            fig("usage_feed_loads", m::F_FEED_LOADS, int(t.at(2)), m::U_SETS),
            fig("usage_rows_loaded", m::C_ROWS_LOADED, int(t.at(3)), msg::C_ROWS),
            fig("usage_rows_rejected", m::C_ROWS_REJECTED, int(t.at(4)), msg::C_ROWS),
        ];
        let mut by_feed = Table::new(
            "usage_loads_by_feed",
            m::T_LOADS_BY_FEED,
            &[
                (a::C_FEED, Kind::Text),
                (a::C_TIMES, Kind::Count),
                (m::C_SUCCEEDED, Kind::Count),
                (m::C_FAILED, Kind::Count),
                (m::C_ROWS_READ, Kind::Count),
                (m::C_ROWS_LOADED, Kind::Count),
                (m::C_ROWS_REJECTED, Kind::Count),
            ],
        );
        by_feed.rows = rows(
            &ctx,
            &format!(
                "SELECT feed, count(*), count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status <> 'ok'), coalesce(sum(rows_read), 0), \
                        coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) FROM ingest_runs WHERE {started} GROUP BY feed ORDER BY 2 DESC, feed"
            ),
        )
        .await?;
        by_feed.relabel(0, |c| {
            let f = c.text();
            if f == "(run)" { m::WHOLE_RUN.into() } else { format!("{} ({f})", calendar::feed_th(&f)) }
        });
        let per_month: HashMap<(i64, i64), (i64, i64)> = rows(
            &ctx,
            &format!(
                "SELECT date_part('year', s), date_part('month', s), count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) \
                 FROM (SELECT run_id, min(started_at) + INTERVAL '7' HOUR AS s, bool_and(status = 'ok') AS ok FROM ingest_runs WHERE {started} GROUP BY run_id) r GROUP BY 1, 2"
            ),
        )
        .await?
        .into_iter()
        .map(|r| ((int(r.at(0)), int(r.at(1))), (int(r.at(2)), int(r.at(3)))))
        .collect();
        let mut monthly = Table::new("usage_loads_by_month", m::T_LOADS_BY_MONTH, &[(m::C_MONTH, Kind::Text), (m::C_SUCCEEDED, Kind::Count), (m::C_FAILED, Kind::Count)]);
        for mo in &months {
            let (ok, failed) = per_month.get(&(i64::from(mo.0), i64::from(mo.1))).copied().unwrap_or((0, 0));
            monthly.rows.push(vec![Cell::Text(month_th(*mo)), Cell::Int(ok), Cell::Int(failed)]);
        }
        loads.charts.push(Chart { kind: ChartKind::Stacked, table: monthly });
        loads.tables.push(by_feed);
        loads.notes.push(m::N_LOADS.into());
    }
    parts.push(loads);

    // 2. Rejected rows by rule, and what the next load of the same feed fixed.
    let mut rejected = Part::new(m::P_REJECTED, msg::NAV_QUALITY);
    if has("ingest_runs") && has("rejected_rows") {
        let fixes = fixed_by_next(&ctx, fy).await?;
        let all = rows(&ctx, &format!("SELECT r.rule, count(*) FROM rejected_rows r JOIN ingest_runs i ON i.run_id = r.run_id AND i.feed = r.feed WHERE {} GROUP BY r.rule", fy.condition("i.started_at"))).await?;
        let mut by_rule = Table::new(
            "usage_rejected_by_rule",
            m::T_REJECTED_BY_RULE,
            &[
                (a::C_RULE, Kind::Text),
                (m::C_ROWS_REJECTED, Kind::Count),
                (m::C_IN_LAST_LOAD, Kind::Count),
                (m::C_FIXED_NEXT, Kind::Count),
                (m::C_STILL_REJECTED, Kind::Count),
                (m::C_WAITING, Kind::Count),
            ],
        );
        let mut rules: Vec<(String, i64)> = all.iter().map(|r| (r.at(0).text(), int(r.at(1)))).collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let (mut fixed_total, mut last_total) = (0, 0);
        for (rule, n) in &rules {
            let f = fixes.get(rule).copied().unwrap_or_default();
            fixed_total += f.fixed;
            last_total += f.last;
            by_rule.rows.push(vec![Cell::Text(format!("{} ({rule})", quality::rule_th(rule))), Cell::Int(*n), Cell::Int(f.last), Cell::Int(f.fixed), Cell::Int(f.still), Cell::Int(f.waiting)]);
        }
        rejected.figures = vec![
            fig("usage_rejected", m::C_ROWS_REJECTED, rules.iter().map(|r| r.1).sum(), msg::C_ROWS),
            fig("usage_rejected_fixed", m::C_FIXED_NEXT, fixed_total, msg::C_ROWS),
            fig("usage_rejected_last", m::C_IN_LAST_LOAD, last_total, msg::C_ROWS),
        ];
        let mut chart = Table::new("usage_rejected_chart", m::T_REJECTED_CHART, &[(msg::C_RULE_SHORT, Kind::Text), (m::C_IN_LAST_LOAD, Kind::Count), (m::C_FIXED_NEXT, Kind::Count)]);
        chart.rows = by_rule.rows.iter().take(10).map(|r| vec![Cell::Text(r.at(0).text().split(" (").next().unwrap_or_default().to_string()), r.at(2).clone(), r.at(3).clone()]).collect();
        rejected.charts.push(Chart { kind: ChartKind::Bars, table: chart });
        rejected.tables.push(by_rule);
        rejected.notes.push(m::N_REJECTED.into());
    }
    parts.push(rejected);

    // 3. Schools against the reporting calendar.
    let mut late = Part::new(msg::P_CALENDAR, msg::NAV_CALENDAR);
    let deadlines: Vec<_> = Calendar::new(wh.clone()).list().await?.into_iter().filter(|d| d.due >= fy.first_day() && d.due <= fy.last_day()).collect();
    let mut per_deadline = Table::new(
        "usage_calendar",
        m::T_CALENDAR,
        &[
            (msg::C_DEADLINE, Kind::Text),
            (a::C_DAY, Kind::Text),
            (msg::C_SCHOOLS, Kind::Count),
            (msg::C_ON_TIME, Kind::Count),
            (msg::C_SENT_LATE, Kind::Count),
            (msg::C_MISSING, Kind::Count),
            (m::C_REJECTED_OPEN, Kind::Count),
        ],
    );
    let mut late_list = Table::new(
        "usage_late_schools",
        m::T_LATE_SCHOOLS,
        &[(msg::C_DEADLINE, Kind::Text), (msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL_NAME, Kind::Text), (msg::C_STATUS, Kind::Text), (msg::C_DAYS_LATE, Kind::Count)],
    );
    let mut late_rows = Vec::new();
    let mut late_total = 0;
    for d in &deadlines {
        let status = calendar::status(q_svc, &admin, d, on).await?;
        let count = |f: &dyn Fn(&calendar::SchoolStatus) -> bool| status.iter().filter(|s| f(s)).count() as i64;
        let (on_time, sent_late, missing) = (count(&|s| s.submitted_at.is_some() && !s.late()), count(&|s| s.submitted_at.is_some() && s.late()), count(&|s| s.submitted_at.is_none() && s.late()));
        late_total += sent_late + missing;
        per_deadline.rows.push(vec![
            Cell::Text(d.name.clone()),
            Cell::Text(thai::date_be(&d.due.to_string())),
            Cell::Int(status.len() as i64),
            Cell::Int(on_time),
            Cell::Int(sent_late),
            Cell::Int(missing),
            Cell::Int(count(&|s| s.rejected_open > 0)),
        ]);
        for s in status.into_iter().filter(calendar::SchoolStatus::late) {
            late_rows.push(((s.days_late, s.submitted_at.is_none()), vec![Cell::Text(d.name.clone()), Cell::Text(s.school_code.clone()), Cell::Text(s.school_name.clone()), Cell::Text(s.status_th().into()), Cell::Int(s.days_late)]));
        }
    }
    late_rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    late_list.rows = late_rows.into_iter().take(100).map(|(_, r)| r).collect();
    late.figures = vec![fig("usage_deadlines", m::F_DEADLINES, deadlines.len() as i64, m::U_ITEMS), fig("usage_late", m::F_LATE, late_total, msg::U_SCHOOLS)];
    let mut chart = Table::new(
        "usage_calendar_chart",
        m::T_CALENDAR_CHART,
        &[(msg::C_DEADLINE, Kind::Text), (m::C_CHART_ON_TIME, Kind::Count), (m::C_CHART_LATE, Kind::Count), (m::C_CHART_MISSING, Kind::Count)],
    );
    chart.rows = per_deadline.rows.iter().map(|r| vec![r.at(0).clone(), r.at(3).clone(), r.at(4).clone(), r.at(5).clone()]).collect();
    late.charts.push(Chart { kind: ChartKind::Stacked, table: chart });
    late.tables.push(per_deadline);
    late.tables.push(late_list);
    late.notes.push(m::n_calendar(&thai::date_be(&on.to_string())));
    parts.push(late);

    // 4. Users and sign-ins by role.
    let mut people = Part::new(m::P_USERS, a::C_USER);
    let users = Users::new(wh.clone()).list().await?;
    let today = office::today();
    let mut accounts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for u in &users {
        let e = accounts.entry(u.role.as_str().to_string()).or_default();
        e.0 += 1;
        if u.expires.is_some_and(|d| d < today) {
            e.1 += 1;
        }
    }
    let mut sign_ins: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut failed = 0;
    let (mut queries, mut exports, mut reports) = (0, 0, 0);
    if has("audit_log") {
        for r in rows(&ctx, &format!("SELECT role, count(*), count(DISTINCT user_name) FROM audit_log WHERE action = 'login' AND {at} GROUP BY role")).await? {
            sign_ins.insert(r.at(0).text(), (int(r.at(1)), int(r.at(2))));
        }
        let t = rows(
            &ctx,
            &format!(
                "SELECT count(*) FILTER (WHERE action = 'login_failed'), count(*) FILTER (WHERE action = 'query'), count(*) FILTER (WHERE action = 'export'), \
                        count(*) FILTER (WHERE {REPORT_EVENTS}) FROM audit_log WHERE {at}"
            ),
        )
        .await?;
        let t = t.first().cloned().unwrap_or_default();
        (failed, queries, exports, reports) = (int(t.at(0)), int(t.at(1)), int(t.at(2)), int(t.at(3)));
    }
    let mut by_role = Table::new(
        "usage_users_by_role",
        m::T_USERS_BY_ROLE,
        &[(a::C_ROLE, Kind::Text), (m::C_ACCOUNTS, Kind::Count), (m::C_EXPIRED, Kind::Count), (m::C_USERS_SIGNED_IN, Kind::Count), (m::C_LOGINS, Kind::Count)],
    );
    let mut roles: Vec<&String> = accounts.keys().chain(sign_ins.keys()).collect();
    roles.sort();
    roles.dedup();
    for role in roles {
        let (n, expired) = accounts.get(role).copied().unwrap_or_default();
        let (logins, who) = sign_ins.get(role).copied().unwrap_or_default();
        by_role.rows.push(vec![Cell::Text(role_th(role)), Cell::Int(n), Cell::Int(expired), Cell::Int(who), Cell::Int(logins)]);
    }
    people.figures = vec![
        fig("usage_accounts", m::C_ACCOUNTS, users.len() as i64, m::U_ACCOUNTS),
        fig("usage_logins", m::C_LOGINS, sign_ins.values().map(|v| v.0).sum(), a::C_TIMES),
        fig("usage_logins_failed", m::F_LOGINS_FAILED, failed, a::C_TIMES),
    ];
    let mut chart = Table::new("usage_logins_chart", m::T_LOGINS_CHART, &[(a::C_ROLE, Kind::Text), (m::C_LOGINS, Kind::Count)]);
    chart.rows = by_role.rows.iter().map(|r| vec![r.at(0).clone(), r.at(4).clone()]).collect();
    people.charts.push(Chart { kind: ChartKind::Bars, table: chart });
    people.tables.push(by_role);
    people.notes.push(m::N_USERS.into());
    parts.push(people);

    // 5. Queries, exports and reports by month and by table.
    let mut use_part = Part::new(m::P_USE, m::P_USE);
    use_part.figures = vec![fig("usage_queries", a::C_QUERIES, queries, a::C_TIMES), fig("usage_exports", a::C_EXPORTS, exports, a::C_TIMES), fig("usage_reports", a::C_REPORTS, reports, a::C_TIMES)];
    if has("audit_log") {
        let per_month: HashMap<(i64, i64), Vec<Cell>> = rows(
            &ctx,
            &format!(
                "SELECT date_part('year', t), date_part('month', t), count(*) FILTER (WHERE action = 'query'), count(*) FILTER (WHERE action = 'export'), \
                        count(*) FILTER (WHERE {REPORT_EVENTS}) FROM (SELECT at + INTERVAL '7' HOUR AS t, action, object FROM audit_log WHERE {at}) a GROUP BY 1, 2"
            ),
        )
        .await?
        .into_iter()
        .map(|r| ((int(r.at(0)), int(r.at(1))), r.iter().skip(2).cloned().collect::<Vec<_>>()))
        .collect();
        let mut monthly =
            Table::new("usage_by_month", m::T_USE_BY_MONTH, &[(m::C_MONTH, Kind::Text), (a::C_QUERIES, Kind::Count), (a::C_EXPORTS, Kind::Count), (a::C_REPORTS, Kind::Count)]);
        for mo in &months {
            let mut row = vec![Cell::Text(month_th(*mo))];
            row.extend(per_month.get(&(i64::from(mo.0), i64::from(mo.1))).cloned().unwrap_or_else(|| vec![Cell::Int(0); 3]));
            monthly.rows.push(row);
        }
        use_part.charts.push(Chart { kind: ChartKind::Bars, table: monthly });
        let mut by_table =
            Table::new("usage_by_table", m::T_USE_BY_TABLE, &[(m::C_TABLE, Kind::Text), (a::C_QUERIES, Kind::Count), (a::C_EXPORTS, Kind::Count), (a::C_ROWS_EXPORTED, Kind::Count)]);
        by_table.rows = rows(
            &ctx,
            &format!(
                "SELECT t, count(*) FILTER (WHERE action = 'query'), count(*) FILTER (WHERE action = 'export'), coalesce(sum(rows) FILTER (WHERE action = 'export'), 0) \
                 FROM (SELECT action, rows, unnest(string_to_array(object, ',')) AS t FROM audit_log WHERE action IN ('query', 'export') AND object <> '' AND {at}) u \
                 GROUP BY t ORDER BY count(*) DESC, t"
            ),
        )
        .await?;
        use_part.tables.push(by_table);
        let mut kinds = Table::new("usage_reports_by_kind", m::T_REPORTS_BY_KIND, &[(m::C_KIND, Kind::Text), (a::C_TIMES, Kind::Count), (a::C_USER, Kind::Count)]);
        let mut per_kind: BTreeMap<String, (i64, std::collections::BTreeSet<String>)> = BTreeMap::new();
        for r in rows(&ctx, &format!("SELECT object, user_name, count(*) FROM audit_log WHERE {REPORT_EVENTS} AND {at} GROUP BY 1, 2")).await? {
            let e = per_kind.entry(report_kind(&r.at(0).text())).or_default();
            e.0 += int(r.at(2));
            e.1.insert(r.at(1).text());
        }
        let mut k: Vec<_> = per_kind.into_iter().collect();
        k.sort_by_key(|r| std::cmp::Reverse(r.1.0));
        kinds.rows = k.into_iter().map(|(name, (n, users))| vec![Cell::Text(name), Cell::Int(n), Cell::Int(users.len() as i64)]).collect();
        use_part.tables.push(kinds);
    }
    use_part.notes.push(m::N_USE.into());
    parts.push(use_part);

    // 6. The most-used saved queries and reports.
    let mut top = Part::new(m::P_TOP, m::S_TOP);
    if has("audit_log") {
        let mark_len = SAVED_MARK.chars().count() + 1;
        let mut saved = Table::new("usage_top_saved", m::T_TOP_SAVED, &[(msg::NAV_SAVED, Kind::Text), (a::C_TIMES, Kind::Count), (a::C_USER, Kind::Count)]);
        saved.rows = rows(
            &ctx,
            &format!(
                "SELECT substr(split_part(sql_text, chr(10), 1), {mark_len}) AS name, count(*), count(DISTINCT user_name) FROM audit_log \
                 WHERE action IN ('query', 'export') AND starts_with(sql_text, {}) AND {at} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
                sql_literal(SAVED_MARK)
            ),
        )
        .await?;
        let mut opened = Table::new("usage_top_reports", m::T_TOP_REPORTS, &[(msg::C_REPORT, Kind::Text), (a::C_TIMES, Kind::Count), (a::C_USER, Kind::Count)]);
        opened.rows = rows(&ctx, &format!("SELECT object, count(*), count(DISTINCT user_name) FROM audit_log WHERE {REPORT_EVENTS} AND {at} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10")).await?;
        opened.relabel(0, |c| report_th(&c.text()));
        top.figures = vec![fig("usage_saved_runs", m::F_SAVED_RUNS, saved.rows.iter().map(|r| int(r.at(1))).sum(), a::C_TIMES)];
        if !saved.rows.is_empty() {
            let mut chart = Table::new("usage_top_saved_chart", m::T_TOP_SAVED, &[(m::C_QUERY, Kind::Text), (a::C_TIMES, Kind::Count)]);
            chart.rows = saved.rows.iter().map(|r| vec![r.at(0).clone(), r.at(1).clone()]).collect();
            top.charts.push(Chart { kind: ChartKind::Bars, table: chart });
        }
        top.tables.push(saved);
        top.tables.push(opened);
    }
    parts.push(top);

    // 7. Access requests and publishing approvals.
    let mut process = Part::new(m::P_PROCESS, m::S_PROCESS);
    if has("audit_log") {
        let t = rows(
            &ctx,
            &format!(
                "SELECT count(*) FILTER (WHERE action = 'access_request'), count(*) FILTER (WHERE action = 'access_grant' AND object LIKE 'request % granted%'), \
                        count(*) FILTER (WHERE action = 'access_refuse'), count(*) FILTER (WHERE action = 'publish_propose'), \
                        count(*) FILTER (WHERE action = 'publish_approve'), count(*) FILTER (WHERE action = 'publish_return') FROM audit_log WHERE {at}"
            ),
        )
        .await?;
        let t = t.first().cloned().unwrap_or_default();
        process.figures = vec![
            fig("usage_requests", msg::NAV_ACCESS_REQUESTS, int(t.at(0)), m::U_FORMS),
            fig("usage_requests_granted", m::GRANTED, int(t.at(1)), m::U_FORMS),
            fig("usage_requests_refused", m::REFUSED, int(t.at(2)), m::U_FORMS),
            fig("usage_proposed", m::F_PROPOSED, int(t.at(3)), a::C_TIMES),
            fig("usage_approved", msg::NAV_APPROVALS, int(t.at(4)), a::C_TIMES),
            fig("usage_returned", m::F_RETURNED, int(t.at(5)), a::C_TIMES),
        ];
    }
    let mut requests = Table::new(
        "usage_access_requests",
        m::T_REQUESTS,
        &[
            (msg::C_NUMBER, Kind::Count),
            (msg::C_REQUESTER, Kind::Text),
            (msg::C_AGENCY, Kind::Text),
            (m::C_DATA, Kind::Text),
            (m::C_DECISION, Kind::Text),
            (a::C_DAY, Kind::Text),
            (m::C_UNTIL_OR_REASON, Kind::Text),
        ],
    );
    for r in Requests::new(wh.clone()).list().await?.into_iter().filter(|r| r.decided_at.is_some_and(|t| fy.holds(t))) {
        let (state, detail) = match r.state {
            RequestState::Granted => (m::GRANTED, r.expires.map(|d| thai::date_be(&d.to_string())).unwrap_or_default()),
            RequestState::Refused => (m::REFUSED, r.reason.clone().unwrap_or_default()),
            RequestState::Pending => (m::PENDING, String::new()),
        };
        requests.rows.push(vec![
            Cell::Int(i64::from(r.id)),
            Cell::Text(r.form.full_name.clone()),
            Cell::Text(r.form.agency.clone()),
            Cell::Text(r.form.data.clone()),
            Cell::Text(state.into()),
            Cell::Text(r.decided_at.map(thai::datetime_be).unwrap_or_default()),
            Cell::Text(detail),
        ]);
    }
    let mut approvals = Table::new(
        "usage_approvals",
        m::T_APPROVALS,
        &[
            (a::C_DAY, Kind::Text),
            (msg::C_AREA, Kind::Text),
            (m::C_DATA_AS_OF, Kind::Text),
            (msg::DATA_VERSION, Kind::Count),
            (m::C_REVIEW, Kind::Text),
            (msg::C_BY, Kind::Text),
            (msg::C_REASON, Kind::Text),
        ],
    );
    for ap in Approvals::new(wh.clone()).history().await?.into_iter().filter(|ap| fy.holds(ap.at)) {
        approvals.rows.push(vec![
            Cell::Text(thai::datetime_be(ap.at)),
            Cell::Text(ap.area.clone().unwrap_or_else(|| m::ALL_AREAS.into())),
            Cell::Text(thai::date_be(&ap.snapshot.to_string())),
            Cell::Int(ap.state as i64),
            Cell::Text(crate::msg::publishing::decision(ap.decision).into()),
            Cell::Text(ap.by.clone()),
            Cell::Text(ap.reason.clone().unwrap_or_default()),
        ]);
    }
    process.tables.push(requests);
    process.tables.push(approvals);
    parts.push(process);

    let commit = wh.committed().await.map_err(|e| ReportError::Query(e.to_string()))?;
    let state = commit.as_ref().map_or(0, |c| c.seq);
    let now = Utc::now();
    Ok(Doc {
        heading: m::TITLE.into(),
        name: format!("{} {}", m::NAME, fy.year),
        lines: vec![m::between(&thai::date_be_long(&fy.first_day().to_string()), &thai::date_be_long(&fy.last_day().to_string())), m::FORM.into()],
        parts,
        footer: m::footer(&format!("{} {state}", msg::DATA_VERSION), &thai::date_be(&on.to_string())),
        generated: format!("{} {}", msg::GENERATED, thai::datetime_be(now)),
        keywords: vec![m::KEYWORD.into(), msg::APP.into(), format!("{} {}", msg::FISCAL_YEAR, fy.year)],
        summary: false,
    })
}

/// The kind of a report from its audit object: the four-domain report, a dashboard page, the quality report...
fn report_kind(object: &str) -> String {
    let words: Vec<&str> = object.split(' ').collect();
    match words.as_slice() {
        [_, _, "report", ext] => format!("{}{} ({})", msg::C_REPORT, msg::REPORT_TITLE, ext.to_uppercase()),
        ["area", _, "district", _] => m::DISTRICT_PAGE.into(),
        ["area", _, _] => m::AREA_PAGE.into(),
        ["school", _, _] => m::SCHOOL_PAGE.into(),
        ["quality", ..] => m::QUALITY_REPORT.into(),
        ["usage", ..] => m::USAGE_REPORT.into(),
        _ => report_th(object),
    }
}

/// Rejected rows of the last load of each period, by rule: how many the next period's last load of
/// the same feed no longer had (same school, same rule), how many it still had, and how many wait
/// for a next period.
#[derive(Debug, Clone, Copy, Default)]
struct Fixes {
    last: i64,
    fixed: i64,
    still: i64,
    waiting: i64,
}

async fn fixed_by_next(ctx: &SessionContext, fy: FiscalYear) -> Result<HashMap<String, Fixes>, ReportError> {
    // Every good load, of every year: the next period may come after the year's end.
    let runs = rows(
        ctx,
        "SELECT run_id, feed, coalesce(scope, ''), to_unixtime(started_at) FROM ingest_runs WHERE status = 'ok' AND feed <> '(run)' ORDER BY started_at, run_id",
    )
    .await?;
    // Per feed, its periods in order, each with its last load (and whether that load is in the year).
    let mut periods: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    for r in &runs {
        let (run_id, feed, scope) = (r.at(0).text(), r.at(1).text(), r.at(2).text());
        let in_year = r.at(3).as_i64().and_then(|secs| DateTime::from_timestamp(secs, 0)).is_some_and(|t| fy.holds(t));
        let list = periods.entry(feed).or_default();
        // A whole-table feed (`all`) has no periods: each load is the next one.
        match list.iter_mut().find(|p| p.0 == scope && scope != "all") {
            Some(p) => {
                p.1 = run_id;
                p.2 = in_year;
            }
            None => list.push((scope, run_id, in_year)),
        }
    }
    // (feed, its last load of a period in the year, the next period's last load).
    let mut pairs: Vec<(String, String, Option<String>)> = Vec::new();
    for (feed, list) in &periods {
        for (i, p) in list.iter().enumerate().filter(|(_, p)| p.2) {
            pairs.push((feed.clone(), p.1.clone(), list.get(i + 1).map(|n| n.1.clone())));
        }
    }
    let mut out: HashMap<String, Fixes> = HashMap::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let quote = |s: &str| sql_literal(s);
    let ids: std::collections::BTreeSet<String> = pairs.iter().flat_map(|(_, a, b)| std::iter::once(a.clone()).chain(b.clone())).map(|id| quote(&id)).collect();
    // One run loads every feed: rejected rows are counted per run and feed, as (school, rule, rows).
    type Counts = Vec<(String, String, i64)>;
    let mut counts: HashMap<(String, String), Counts> = HashMap::new();
    let sql = format!(
        "SELECT run_id, feed, coalesce(school_code, ''), rule, count(*) FROM rejected_rows WHERE run_id IN ({}) GROUP BY 1, 2, 3, 4",
        ids.into_iter().collect::<Vec<_>>().join(", ")
    );
    for r in rows(ctx, &sql).await? {
        counts.entry((r.at(0).text(), r.at(1).text())).or_default().push((r.at(2).text(), r.at(3).text(), int(r.at(4))));
    }
    for (feed, run_id, next) in &pairs {
        let later: HashMap<(&str, &str), i64> = next
            .as_ref()
            .and_then(|n| counts.get(&(n.clone(), feed.clone())))
            .map(|rows| rows.iter().map(|(school, rule, n)| ((school.as_str(), rule.as_str()), *n)).collect())
            .unwrap_or_default();
        for (school, rule, n) in counts.get(&(run_id.clone(), feed.clone())).map(Vec::as_slice).unwrap_or_default() {
            let f = out.entry(rule.clone()).or_default();
            f.last += n;
            if next.is_some() {
                let still = later.get(&(school.as_str(), rule.as_str())).copied().unwrap_or(0);
                f.fixed += (n - still).max(0);
                f.still += (*n).min(still);
            } else {
                f.waiting += n;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_year_bounds_in_thai_time() {
        let fy = FiscalYear::parse("2570").unwrap_or(FiscalYear { year: 0 });
        assert_eq!(fy.first_day().to_string(), "2026-10-01");
        assert_eq!(fy.last_day().to_string(), "2027-09-30");
        assert_eq!(fy.condition("at"), "at >= TIMESTAMP '2026-09-30T17:00:00' AND at < TIMESTAMP '2027-09-30T17:00:00'");
        assert_eq!(FiscalYear::of(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default()).year, 2570);
        assert_eq!(FiscalYear::of(NaiveDate::from_ymd_opt(2026, 9, 30).unwrap_or_default()).year, 2569);
        let months = fy.months(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default());
        assert_eq!(months, vec![(2026, 10), (2026, 11), (2026, 12)]);
        assert_eq!(month_th(months[0]), "ต.ค. 2569");
        assert_eq!(fy.months(fy.last_day() + Duration::days(400)).len(), 12);
        assert!(FiscalYear::parse("70").is_err());
    }

    #[test]
    fn report_objects_read_in_thai() {
        assert_eq!(report_kind("area 56010000 report pdf"), "รายงานข้อมูลสารสนเทศ 4 ด้าน (PDF)");
        assert_eq!(report_th("area 56010000 overview"), "หน้าภาพรวม เขต 56010000");
        assert_eq!(report_th("school 1056010001 academic"), "หน้าด้านการบริหารวิชาการ โรงเรียน 1056010001");
    }
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct Params {
    pub fiscal_year: Option<String>,
    /// html (default), pdf or xlsx.
    pub format: Option<String>,
}

/// `/admin/usage-report?fiscal_year=2570[&format=pdf|xlsx]`: the yearly report, for admins.
pub async fn page(
    axum::extract::State(st): axum::extract::State<crate::AppState>,
    caller: Result<khlang_query::transport::api::Caller, khlang_query::transport::api::ApiError>,
    axum::extract::Query(p): axum::extract::Query<Params>,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::{Html, IntoResponse};
    let Some(caller) = crate::pages::signed_in(caller) else { return crate::sign_in_first("/admin/usage-report") };
    if caller.who.role != Role::Admin {
        return crate::pages::error_page(StatusCode::FORBIDDEN, msg::ADMINS_ONLY);
    }
    let today = office::today();
    let fy = match p.fiscal_year.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match FiscalYear::parse(s) {
            Ok(fy) => fy,
            Err(e) => return crate::pages::error_page(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        None => FiscalYear::of(today),
    };
    let format = p.format.as_deref().unwrap_or("html");
    if !matches!(format, "html" | "pdf" | "xlsx") {
        return crate::pages::error_page(StatusCode::BAD_REQUEST, &format!("format '{format}' is not html, pdf or xlsx"));
    }
    // This opening counts in the report it opens, as on the command line.
    st.svc.audit.record(khlang_query::audit::Event::new(&caller.who, khlang_query::audit::Action::Report, format!("usage {} {format}", fy.year), caller.client.clone()));
    st.svc.audit.flush().await;
    let doc = match build(&st.svc.q, fy, today).await {
        Ok(d) => d,
        Err(e) => return crate::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let file = format!("usage_report_{}", fy.year);
    let made = match format {
        "pdf" => tokio::task::spawn_blocking(move || doc.render(FileFormat::Pdf).map(|b| (b, "application/pdf"))).await,
        "xlsx" => tokio::task::spawn_blocking(move || doc.render(FileFormat::Xlsx).map(|b| (b, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))).await,
        _ => {
            let this_year = FiscalYear::of(today).year;
            let link = |ext: &str| format!("/admin/usage-report?fiscal_year={}&format={ext}", fy.year);
            let body = html! {
                form.chooser method="get" {
                    (msg::FISCAL_YEAR) " "
                    select name="fiscal_year" {
                        @for y in (fy.year.min(this_year) - 4..=this_year).rev() { option value=(y) selected[y == fy.year] { (y) } }
                    }
                    " " button { (msg::SHOW) }
                }
                p { a href=(link("pdf")) download { "PDF" } " · " a href=(link("xlsx")) download { "XLSX" } }
                (crate::doc::html(&doc))
            };
            return Html(crate::html::shell(&caller.who, &doc.title(), body).into_string()).into_response();
        }
    };
    match made {
        Ok(Ok((bytes, mime))) => {
            ([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.{format}\""))], bytes).into_response()
        }
        Ok(Err(e)) => crate::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => crate::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
