//! The academic domain: students by level, grade and year, dropouts, national tests.

use khlang_query::reference;

use crate::msg;
use crate::table::{one, rows, Cells as _};

use super::{ReportError, LEVELS, rows_if, Cell, ChartKind, Chart, Ctx, Domain, Kind, Section, Subject, Summary, Table, num_at, fig, pct, ratio};

pub(super) async fn academic(c: &Ctx<'_>, s: &Summary) -> Result<Section, ReportError> {
    let (f, snap) = (&c.f, &c.snap);
    // The overview shows the figures and the pyramid; the rest only the academic page and the report.
    let (e, levels, pyramid_rows, trend_rows, tests) = tokio::try_join!(
        one(
            c.ctx,
            &format!(
                "SELECT sum(CASE WHEN status = 'dropped_out' THEN 1 ELSE 0 END), count(*), \
                        sum(CASE WHEN status = 'studying' AND disadvantaged THEN 1 ELSE 0 END), \
                        sum(CASE WHEN status = 'studying' AND disability > 0 THEN 1 ELSE 0 END), \
                        sum(CASE WHEN status = 'studying' THEN 1 ELSE 0 END) \
                 FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}'"
            ),
            5,
        ),
        rows_if(
            c.full,
            c.ctx,
            &format!(
                "SELECT level, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END), count(*) \
                 FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}' AND status = 'studying' GROUP BY level"
            ),
        ),
        rows(
            c.ctx,
            &format!(
                "SELECT grade_order, sum(CASE WHEN sex = 1 THEN 1 ELSE 0 END), sum(CASE WHEN sex = 2 THEN 1 ELSE 0 END) \
                 FROM enrollments WHERE {f} AND snapshot_date = DATE '{snap}' AND status = 'studying' GROUP BY grade_order ORDER BY grade_order"
            ),
        ),
        rows_if(
            c.full,
            c.ctx,
            &format!(
                "SELECT snapshot_date, sum(students), sum(classrooms), sum(teachers) FROM school_snapshot_summary \
                 WHERE {f} AND academic_year BETWEEN {} AND {} AND snapshot_date <= DATE '{snap}' GROUP BY snapshot_date ORDER BY snapshot_date",
                c.academic_year - 4,
                c.academic_year
            ),
        ),
        test_results(c),
    )?;
    let studying = num_at(&e, 4);
    let figures = vec![
        fig("students", msg::F_STUDENTS, s.students, Kind::Count, msg::U_PEOPLE),
        fig("schools", msg::F_SCHOOLS, s.schools, Kind::Count, msg::U_SCHOOLS),
        fig("classrooms", msg::F_CLASSROOMS, s.classrooms, Kind::Count, msg::U_ROOMS),
        fig("students_per_classroom", msg::F_STUDENTS_PER_CLASSROOM, ratio(s.students, s.classrooms).map(|r| (r * 10.0).round() / 10.0), Kind::Ratio, msg::U_PEOPLE),
        fig("dropouts", msg::F_DROPOUTS, num_at(&e, 0), Kind::Count, msg::U_PEOPLE),
        fig("dropout_rate", msg::F_DROPOUT_RATE, pct(num_at(&e, 0), num_at(&e, 1)), Kind::Percent, "%"),
        fig("disadvantaged_share", msg::F_DISADVANTAGED, pct(num_at(&e, 2), studying), Kind::Percent, "%"),
        fig("disabled_share", msg::F_DISABLED, pct(num_at(&e, 3), studying), Kind::Percent, "%"),
    ];

    let mut by_level = Table::new("students_by_level", msg::T_STUDENTS_BY_LEVEL, &[(msg::C_LEVEL, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count), (msg::C_TOTAL, Kind::Count)]);
    for l in LEVELS {
        if let Some(r) = levels.iter().find(|r| r.at(0).text() == l) {
            by_level.rows.push(vec![Cell::Text(msg::level(l).into()), r.at(1).clone(), r.at(2).clone(), r.at(3).clone()]);
        }
    }

    let mut pyramid = Table::new("students_by_grade", msg::T_PYRAMID, &[(msg::C_GRADE, Kind::Text), (msg::C_MALE, Kind::Count), (msg::C_FEMALE, Kind::Count)]);
    for r in pyramid_rows {
        let grade = r.at(0).as_i64().and_then(|o| reference::grade_by_order(o as i32)).map_or_else(|| r.at(0).text(), |g| g.thai.to_string());
        pyramid.rows.push(vec![Cell::Text(grade), r.at(1).clone(), r.at(2).clone()]);
    }

    let mut trend = Table::new(
        "students_trend",
        msg::T_TREND,
        &[(msg::C_SNAPSHOT, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_CLASSROOMS, Kind::Count), (msg::C_TEACHERS, Kind::Count)],
    );
    for r in trend_rows {
        trend.rows.push(vec![Cell::Text(crate::thai::date_be(&r.at(0).text())), r.at(1).clone(), r.at(2).clone(), r.at(3).clone()]);
    }

    let charts = vec![
        Chart { kind: ChartKind::Bars, table: by_level },
        Chart { kind: ChartKind::Pyramid, table: pyramid },
        Chart { kind: ChartKind::Trend, table: trend },
        Chart { kind: ChartKind::Bars, table: tests.1 },
    ];
    Ok(Section {
        domain: Domain::Academic,
        figures,
        charts,
        tables: vec![tests.0],
        notes: vec![msg::N_STUDENTS.into(), msg::N_STUDENTS_PER_CLASSROOM.into(), msg::N_DROPOUT.into(), msg::N_DISADVANTAGED.into(), msg::N_TESTS.into()],
    })
}

/// Test means of the subject against the area's and the nation's (from the published aggregates),
/// for the latest test year up to the snapshot's academic year.
async fn test_results(c: &Ctx<'_>) -> Result<(Table, Table), ReportError> {
    let f = &c.f;
    let year = if c.full { one(c.ctx, &format!("SELECT max(academic_year) FROM test_results WHERE {f} AND academic_year <= {}", c.academic_year), 1).await?.at(0).as_i64() } else { None };
    let is_school = matches!(c.subject, Subject::School(_));
    let mut cols: Vec<(&str, Kind)> = vec![(msg::C_TEST, Kind::Text), (msg::C_SUBJECT, Kind::Text), (msg::C_EXAMINEES, Kind::Count)];
    if is_school {
        cols.push((msg::C_SCHOOL_MEAN, Kind::Ratio));
    }
    cols.extend([(msg::C_AREA_MEAN, Kind::Ratio), (msg::C_NATION_MEAN, Kind::Ratio), (msg::C_DIFF_NATION, Kind::Ratio)]);
    let title = match year {
        Some(y) => format!("{} {y}", msg::T_TESTS),
        None => msg::T_TESTS.to_string(),
    };
    let mut table = Table::new("test_results", title.clone(), &cols);
    let mut chart = Table::new("test_chart", format!("{title} ({})", msg::C_MEAN), &[(msg::C_SUBJECT, Kind::Text), (if is_school { msg::C_SCHOOL_MEAN } else { msg::C_AREA_MEAN }, Kind::Ratio), (msg::C_NATION_MEAN, Kind::Ratio)]);
    let Some(year) = year else { return Ok((table, chart)) };
    let (mine, published) = tokio::try_join!(
        rows(
            c.ctx,
            &format!(
                "SELECT test, subject, sum(examinees), round(sum(mean_score * examinees) / sum(examinees), 2) FROM test_results \
                 WHERE {f} AND academic_year = {year} AND examinees > 0 GROUP BY test, subject ORDER BY test, subject"
            ),
        ),
        rows(
            c.public,
            &format!(
                "SELECT test, subject, round(sum(CASE WHEN area_code = '{a}' THEN mean_score * examinees END) / sum(CASE WHEN area_code = '{a}' THEN examinees END), 2), \
                        round(sum(mean_score * examinees) / sum(examinees), 2) \
                 FROM public_test_results WHERE academic_year = {year} AND mean_score IS NOT NULL GROUP BY test, subject",
                a = c.area_code
            ),
        ),
    )?;
    for r in mine {
        let (test, subject) = (r.at(0).text(), r.at(1).text());
        let p = published.iter().find(|p| p.at(0).text() == test && p.at(1).text() == subject);
        let area = p.and_then(|p| p.at(2).as_f64());
        let nation = p.and_then(|p| p.at(3).as_f64());
        let own = r.at(3).as_f64();
        let diff = match (own, nation) {
            (Some(a), Some(b)) => Cell::Num(((a - b) * 100.0).round() / 100.0),
            _ => Cell::Null,
        };
        let num = |v: Option<f64>| v.map_or(Cell::Null, Cell::Num);
        let mut row = vec![Cell::Text(msg::test_name(&test).into()), Cell::Text(msg::subject(&subject).into()), r.at(2).clone()];
        if is_school {
            row.push(num(own));
            row.push(num(area));
        } else {
            row.push(num(area.or(own)));
        }
        row.push(num(nation));
        row.push(diff);
        table.rows.push(row);
        chart.rows.push(vec![Cell::Text(format!("{} {}", msg::test_name(&test), msg::subject(&subject))), num(own), num(nation)]);
    }
    Ok((table, chart))
}
