//! General administration: schools by size and district, small schools, buildings, DLTV, internet.

use std::collections::BTreeMap;

use crate::msg;
use crate::table::{rows, Cells as _};

use super::{ReportError, Cell, ChartKind, Chart, Ctx, Domain, Kind, Section, SchoolRow, Subject, Summary, Table, fig, pct};

pub(super) async fn general(c: &Ctx<'_>, s: &Summary, schools: &[SchoolRow]) -> Result<Section, ReportError> {
    let f = &c.f;
    let (b, dltv_rows, net) = tokio::try_join!(
        rows(c.ctx, &format!("SELECT condition, count(*), round(sum(area_m2), 1) FROM buildings WHERE {f} GROUP BY condition")),
        rows(c.ctx, &format!("SELECT item, sum(installed), sum(working) FROM dltv_equipment WHERE {f} GROUP BY item ORDER BY item")),
        rows(c.ctx, &format!("SELECT internet, count(*) FROM schools WHERE {f} AND status = 'open' GROUP BY internet")),
    )?;
    let mut bands = Table::new("schools_by_size", msg::T_SIZE_BANDS, &[(msg::C_SIZE, Kind::Text), (msg::C_SCHOOLS, Kind::Count), (msg::C_STUDENTS, Kind::Count)]);
    for b in msg::BANDS {
        let of: Vec<&SchoolRow> = schools.iter().filter(|r| r.size_band == b).collect();
        bands.rows.push(vec![Cell::Text(msg::band(b).into()), Cell::Int(of.len() as i64), Cell::Int(of.iter().map(|r| r.students).sum())]);
    }
    let mut districts: BTreeMap<&str, [i64; 4]> = BTreeMap::new();
    for r in schools {
        let e = districts.entry(r.district.as_str()).or_default();
        if let Some(i) = msg::BANDS.iter().position(|b| *b == r.size_band)
            && let Some(n) = e.get_mut(i)
        {
            *n += 1;
        }
    }
    let mut cols: Vec<(&str, Kind)> = vec![(msg::C_DISTRICT, Kind::Text)];
    cols.extend(msg::BANDS.iter().map(|b| (msg::band(b), Kind::Count)));
    let mut by_district = Table::new("schools_by_district", msg::T_BY_DISTRICT, &cols);
    for (d, n) in &districts {
        let mut row = vec![Cell::Text(khlang_query::reference::district_th(d))];
        row.extend(n.iter().map(|v| Cell::Int(*v)));
        by_district.rows.push(row);
    }
    let mut small = Table::new(
        "small_schools",
        msg::T_SMALL_SCHOOLS,
        &[(msg::C_SCHOOL_CODE, Kind::Text), (msg::C_SCHOOL, Kind::Text), (msg::C_DISTRICT, Kind::Text), (msg::C_STUDENTS, Kind::Count), (msg::C_TEACHERS, Kind::Count), (msg::C_GAP, Kind::Count)],
    );
    let mut small_rows: Vec<&SchoolRow> = schools.iter().filter(|r| r.size_band == "small").collect();
    small_rows.sort_by(|a, b| a.students.cmp(&b.students).then_with(|| a.code.cmp(&b.code)));
    for r in small_rows {
        small.rows.push(vec![Cell::Text(r.code.clone()), Cell::Text(r.name.clone()), Cell::Text(khlang_query::reference::district_th(&r.district)), Cell::Int(r.students), Cell::Int(r.teachers), Cell::Int(r.gap)]);
    }
    let mut buildings = Table::new("buildings_by_condition", msg::T_BUILDINGS, &[(msg::C_CONDITION, Kind::Text), (msg::C_BUILDINGS, Kind::Count), (msg::C_AREA_M2, Kind::Ratio)]);
    for cond in msg::CONDITIONS {
        let r = b.iter().find(|r| r.at(0).text() == cond);
        buildings.rows.push(vec![Cell::Text(msg::condition(cond).into()), r.map_or(Cell::Int(0), |r| r.at(1).clone()), r.map_or(Cell::Num(0.0), |r| r.at(2).clone())]);
    }
    let mut dltv = Table::new("dltv_equipment", msg::T_DLTV, &[(msg::C_ITEM, Kind::Text), (msg::C_INSTALLED, Kind::Count), (msg::C_WORKING, Kind::Count), (msg::C_WORKING_RATE, Kind::Percent)]);
    for r in dltv_rows {
        dltv.rows.push(vec![Cell::Text(msg::item(&r.at(0).text()).into()), r.at(1).clone(), r.at(2).clone(), pct(r.at(2).as_f64(), r.at(1).as_f64()).map_or(Cell::Null, Cell::Num)]);
    }
    let mut internet = Table::new("internet", msg::T_INTERNET, &[(msg::C_CONNECTION, Kind::Text), (msg::C_SCHOOLS, Kind::Count)]);
    for k in msg::INTERNET {
        let n = net.iter().find(|r| r.at(0).text() == k).and_then(|r| r.at(1).as_i64()).unwrap_or(0);
        internet.rows.push(vec![Cell::Text(msg::internet(k).into()), Cell::Int(n)]);
    }
    let needs_repair: i64 = b.iter().filter(|r| r.at(0).text() != "good").filter_map(|r| r.at(1).as_i64()).sum();
    let dltv_installed: i64 = dltv.rows.iter().filter_map(|r| r.at(1).as_i64()).sum();
    let dltv_working: i64 = dltv.rows.iter().filter_map(|r| r.at(2).as_i64()).sum();
    let figures = vec![
        fig("schools_general", msg::F_SCHOOLS, s.schools, Kind::Count, msg::U_SCHOOLS),
        fig("small_schools", msg::F_SMALL, s.small, Kind::Count, msg::U_SCHOOLS),
        fig("small_share", msg::F_SMALL_SHARE, pct(s.small, s.schools), Kind::Percent, "%"),
        fig("buildings_needing_repair", msg::F_REPAIR, Some(needs_repair as f64), Kind::Count, msg::U_BUILDINGS),
        fig("dltv_working_rate", msg::F_DLTV, pct(Some(dltv_working as f64), Some(dltv_installed as f64)), Kind::Percent, "%"),
        fig("schools_offline", msg::F_OFFLINE, internet.rows.iter().find(|r| r.at(0).text() == msg::internet("none")).and_then(|r| r.at(1).as_f64()), Kind::Count, msg::U_SCHOOLS),
    ];
    let mut band_chart = bands.clone();
    band_chart.key = "size_chart";
    band_chart.columns.truncate(2);
    band_chart.rows.iter_mut().for_each(|r| r.truncate(2));
    let mut charts = vec![Chart { kind: ChartKind::Bars, table: band_chart }];
    if matches!(c.subject, Subject::Area(_)) {
        charts.push(Chart { kind: ChartKind::Stacked, table: by_district.clone() });
    }
    charts.push(Chart { kind: ChartKind::Bars, table: { let mut t = buildings.clone(); t.key = "buildings_chart"; t.columns.truncate(2); t.rows.iter_mut().for_each(|r| r.truncate(2)); t } });
    Ok(Section {
        domain: Domain::General,
        figures,
        charts,
        tables: vec![small, dltv, internet, by_district],
        notes: vec![msg::N_SIZE.into(), msg::N_REPAIR.into(), msg::N_DLTV.into()],
    })
}
