//! The personnel domain: staff by position and standing, retirements, subjects, staffing by school.

use chrono::NaiveDate;
use khlang_query::reference;

use crate::msg;
use crate::table::{one, rows, Cells as _};

use super::{ReportError, rows_if, Cell, ChartKind, Chart, Ctx, Domain, Kind, Section, SchoolRow, Summary, Table, fig, ratio};

pub(super) async fn personnel(c: &Ctx<'_>, s: &Summary, schools: &[SchoolRow]) -> Result<Section, ReportError> {
    let f = &c.f;
    let as_of = one(c.ctx, &format!("SELECT max(as_of_date) FROM personnel WHERE {f} AND as_of_date <= DATE '{}'", c.snap), 1).await?.at(0).text();
    let as_of = if as_of.is_empty() { one(c.ctx, &format!("SELECT max(as_of_date) FROM personnel WHERE {f}"), 1).await?.at(0).text() } else { as_of };
    let on = if as_of.is_empty() { "FALSE".to_string() } else { format!("as_of_date = DATE '{as_of}'") };

    use chrono::Datelike as _;
    let snapshot_fy = NaiveDate::parse_from_str(&c.snap, "%Y-%m-%d").map(|d| reference::fiscal_year_quarter(d.year(), d.month()).0).unwrap_or(c.fiscal_year);
    // The overview shows the figures and the positions; standings and subjects only the personnel page and the report.
    let (positions, standings, ret, subject_rows) = tokio::try_join!(
        rows(
            c.ctx,
            &format!("SELECT position, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END), count(*) FROM personnel WHERE {f} AND {on} GROUP BY position"),
        ),
        rows_if(
            c.full,
            c.ctx,
            &format!(
                "SELECT academic_standing, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) FROM personnel \
                 WHERE {f} AND {on} AND position IN ('director', 'deputy_director', 'teacher') GROUP BY academic_standing"
            ),
        ),
        rows(
            c.ctx,
            &format!(
                "SELECT retirement_fiscal_year, sum(CASE WHEN position IN ('teacher', 'assistant_teacher') THEN 1 ELSE 0 END), \
                        sum(CASE WHEN position IN ('director', 'deputy_director') THEN 1 ELSE 0 END), \
                        sum(CASE WHEN position NOT IN ('teacher', 'assistant_teacher', 'director', 'deputy_director') THEN 1 ELSE 0 END), count(*) \
                 FROM personnel WHERE {f} AND {on} AND retirement_fiscal_year BETWEEN {snapshot_fy} AND {} GROUP BY retirement_fiscal_year",
                snapshot_fy + 4
            ),
        ),
        rows_if(c.full, c.ctx, &format!("SELECT major_subject, count(*) FROM personnel WHERE {f} AND {on} AND position IN ('teacher', 'assistant_teacher') GROUP BY major_subject ORDER BY 2 DESC, 1")),
    )?;

    let mut by_position = Table::new(
        "staff_by_position",
        format!("{} ({} {})", msg::T_STAFF_BY_POSITION, msg::AS_OF, crate::thai::date_be(&as_of)),
        &[(msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count), (msg::C_TOTAL, Kind::Count)],
    );
    for p in msg::POSITIONS {
        if let Some(r) = positions.iter().find(|r| r.at(0).text() == p) {
            by_position.rows.push(vec![Cell::Text(msg::position(p).into()), r.at(1).clone(), r.at(2).clone(), r.at(3).clone()]);
        }
    }
    let mut by_standing = Table::new("staff_by_standing", msg::T_STAFF_BY_STANDING, &[(msg::C_STANDING, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    for st in msg::STANDINGS {
        if let Some(r) = standings.iter().find(|r| r.at(0).text() == st) {
            by_standing.rows.push(vec![Cell::Text(msg::standing(st).into()), r.at(1).clone(), r.at(2).clone()]);
        }
    }

    let mut retirements = Table::new(
        "retirements",
        format!("{} {}–{}", msg::T_RETIREMENTS, snapshot_fy, snapshot_fy + 4),
        &[(msg::C_FISCAL_YEAR, Kind::Text), (msg::C_TEACHERS, Kind::Count), (msg::C_DIRECTORS, Kind::Count), (msg::C_OTHER_STAFF, Kind::Count), (msg::C_TOTAL, Kind::Count)],
    );
    let mut retiring = 0;
    for y in snapshot_fy..=snapshot_fy + 4 {
        let r = ret.iter().find(|r| r.at(0).as_i64() == Some(i64::from(y)));
        let get = |i: usize| r.and_then(|r| r.at(i).as_i64()).unwrap_or(0);
        retiring += get(4);
        retirements.rows.push(vec![Cell::Text(y.to_string()), Cell::Int(get(1)), Cell::Int(get(2)), Cell::Int(get(3)), Cell::Int(get(4))]);
    }
    let mut subjects = Table::new("teachers_by_subject", msg::T_SUBJECTS, &[(msg::C_MAJOR, Kind::Text), (msg::C_TEACHERS, Kind::Count)]);
    for r in subject_rows {
        subjects.rows.push(vec![Cell::Text(msg::subject(&r.at(0).text()).into()), r.at(1).clone()]);
    }
    let mut staffing = Table::new(
        "staffing_by_school",
        msg::T_STAFFING,
        &[(msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count), (msg::C_REQUIRED, Kind::Count), (msg::C_GAP, Kind::Count)],
    );
    let mut sorted: Vec<&SchoolRow> = schools.iter().collect();
    sorted.sort_by(|a, b| a.gap.cmp(&b.gap).then_with(|| a.code.cmp(&b.code)));
    for r in sorted {
        staffing.rows.push(vec![Cell::Text(r.code.clone()), Cell::Text(r.name.clone()), Cell::Int(r.students), Cell::Int(r.teachers), Cell::Int(r.required), Cell::Int(r.gap)]);
    }
    let mut retire_chart = Table::new("retirements_chart", retirements.title.clone(), &[(msg::C_FISCAL_YEAR, Kind::Text), (msg::C_TEACHERS, Kind::Count), (msg::C_DIRECTORS, Kind::Count), (msg::C_OTHER_STAFF, Kind::Count)]);
    retire_chart.rows = retirements.rows.iter().map(|r| r.iter().take(4).cloned().collect()).collect();
    let mut position_chart = Table::new("position_chart", by_position.title.clone(), &[(msg::C_POSITION, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    position_chart.rows = by_position.rows.iter().map(|r| r.iter().take(3).cloned().collect()).collect();

    let staff: i64 = by_position.rows.iter().filter_map(|r| r.at(3).as_i64()).sum();
    let figures = vec![
        fig("staff", msg::F_STAFF, Some(staff as f64), Kind::Count, msg::U_PEOPLE),
        fig("teachers", msg::F_TEACHERS, s.teachers, Kind::Count, msg::U_PEOPLE),
        fig("required_teachers", msg::F_REQUIRED, s.required, Kind::Count, msg::U_POSTS),
        fig("teacher_shortage", msg::F_SHORTAGE, s.shortage, Kind::Count, msg::U_POSTS),
        fig("teacher_surplus", msg::F_SURPLUS, s.surplus, Kind::Count, msg::U_POSTS),
        fig("schools_short", msg::F_SCHOOLS_SHORT, s.schools_short, Kind::Count, msg::U_SCHOOLS),
        fig("students_per_teacher", msg::F_STUDENTS_PER_TEACHER, ratio(s.students, s.teachers).map(|r| (r * 10.0).round() / 10.0), Kind::Ratio, msg::U_PEOPLE),
        fig("retirements_5y", msg::F_RETIREMENTS, Some(retiring as f64), Kind::Count, msg::U_PEOPLE),
    ];
    Ok(Section {
        domain: Domain::Personnel,
        figures,
        charts: vec![Chart { kind: ChartKind::Stacked, table: position_chart }, Chart { kind: ChartKind::Stacked, table: retire_chart }],
        tables: vec![by_standing, subjects, staffing, retirements, by_position],
        notes: vec![msg::N_REQUIRED.into(), msg::N_GAP.into(), msg::N_RETIREMENT.into(), msg::N_STUDENTS_PER_TEACHER.into()],
    })
}
