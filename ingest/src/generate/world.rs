//! The areas and schools of a generated pull, and the cohort sizes that drive every other feed.

use super::rng::{Rng, tag};
use khlang_warehouse::reference::{self, Province};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    Area,
    Province,
    National,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaType {
    Primary,
    Secondary,
}

impl AreaType {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaType::Primary => "primary",
            AreaType::Secondary => "secondary",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub kind: AreaType,
    pub province: String,
}

#[derive(Debug, Clone)]
pub struct School {
    /// Global index, part of every generated citizen ID of this school.
    pub idx: u64,
    pub code: String,
    pub smis: String,
    pub name: String,
    pub area: usize,
    pub province: String,
    pub district: String,
    pub subdistrict: String,
    pub lat: f64,
    pub lon: f64,
    /// Grade orders 1..15 (K1..M6).
    pub lowest: i32,
    pub highest: i32,
    pub is_dltv: bool,
    pub internet: &'static str,
    pub status: &'static str,
    /// Students per grade before the yearly trend and noise.
    pub per_grade: f64,
}

impl School {
    pub fn teaches(&self, order: i32) -> bool {
        order >= self.lowest && order <= self.highest
    }
}

pub struct World {
    pub rng: Rng,
    pub areas: Vec<Area>,
    pub schools: Vec<School>,
}

const VILLAGE_A: &[&str] = &[
    "หนอง", "ดอน", "โคก", "นา", "ห้วย", "ป่า", "บ่อ", "สระ", "หัว", "ท่า", "วัง", "แม่", "ทุ่ง", "เหล่า", "โนน", "คลอง", "บึง",
    "หาด", "เวียง", "ปาง",
];
const VILLAGE_B: &[&str] = &[
    "ใหญ่", "น้อย", "แดง", "ขาม", "คำ", "ทอง", "งาม", "สูง", "ยาง", "ไผ่", "มะม่วง", "ตะเคียน", "เจริญ", "สว่าง", "ใหม่", "กลาง",
    "หลวง", "บัว", "ม่วง", "สะอาด", "ศรี", "จันทร์", "แก้ว", "เกษม",
];
const SECONDARY_SUFFIX: &[&str] = &["วิทยาคม", "พิทยาคม", "วิทยา", "ศึกษา", "ราษฎร์บำรุง", "วิทยาลัย"];

/// Rough latitude/longitude box by region.
fn region_box(region: &str) -> ((f64, f64), (f64, f64)) {
    match region {
        "north" => ((17.0, 20.2), (98.0, 101.0)),
        "northeast" => ((14.5, 18.2), (101.5, 105.3)),
        "east" => ((12.4, 14.0), (101.0, 102.6)),
        "west" => ((12.0, 16.5), (98.4, 99.6)),
        "south" => ((6.0, 11.0), (98.4, 101.5)),
        _ => ((13.4, 16.0), (99.5, 101.3)),
    }
}

fn area_name(kind: AreaType, province: &Province, number: u32, numbered: bool) -> String {
    match (kind, numbered) {
        (AreaType::Primary, true) => format!("สำนักงานเขตพื้นที่การศึกษาประถมศึกษา{} เขต {}", province.name_th, number),
        (AreaType::Primary, false) => format!("สำนักงานเขตพื้นที่การศึกษาประถมศึกษา{}", province.name_th),
        (AreaType::Secondary, true) => format!("สำนักงานเขตพื้นที่การศึกษามัธยมศึกษา{} เขต {}", province.name_th, number),
        (AreaType::Secondary, false) => format!("สำนักงานเขตพื้นที่การศึกษามัธยมศึกษา{}", province.name_th),
    }
}

impl World {
    pub fn build(scale: Scale, seed: u64) -> World {
        let rng = Rng::new(seed);
        let provinces = reference::provinces();
        // (province index, kind, number within province, numbered?, schools)
        let mut plan: Vec<(usize, AreaType, u32, bool, u64)> = Vec::new();
        let phayao = provinces.iter().position(|p| p.code == "56").unwrap_or(0);
        match scale {
            Scale::Area => plan.push((phayao, AreaType::Primary, 1, true, 118)),
            Scale::Province => {
                plan.push((phayao, AreaType::Primary, 1, true, 118));
                plan.push((phayao, AreaType::Primary, 2, true, 104));
                plan.push((phayao, AreaType::Secondary, 1, false, 26));
            }
            Scale::National => {
                // 183 primary areas: one per province, the other 106 to the provinces with the most
                // schools (north-east first, as in reality); 62 secondary areas: one per province for the
                // first 62 provinces, the rest of the provinces' secondary schools join a neighbour's area.
                let mut extra: Vec<usize> = (0..provinces.len()).collect();
                extra.sort_by_key(|&i| {
                    let w = match provinces[i].region.as_str() {
                        "northeast" => 0,
                        "north" => 1,
                        "central" => 2,
                        "south" => 3,
                        _ => 4,
                    };
                    (w, rng.u(&[tag::AREA, i as u64]) % 1000)
                });
                let mut per_province = vec![1u32; provinces.len()];
                let mut k = 0;
                let mut added = 0;
                while added < 183 - provinces.len() {
                    let i = extra[k % 40];
                    if per_province[i] < 6 {
                        per_province[i] += 1;
                        added += 1;
                    }
                    k += 1;
                }
                for (i, n) in per_province.iter().enumerate() {
                    for a in 1..=*n {
                        let schools = rng.range(&[tag::AREA, 1, i as u64, a as u64], 95, 195) as u64;
                        plan.push((i, AreaType::Primary, a, *n > 1, schools));
                    }
                }
                for i in 0..62 {
                    let schools = rng.range(&[tag::AREA, 2, i as u64], 22, 56) as u64;
                    plan.push((i, AreaType::Secondary, 1, false, schools));
                }
            }
        }

        let mut areas = Vec::new();
        let mut schools = Vec::new();
        for (pi, kind, number, numbered, n_schools) in plan {
            let p = &provinces[pi];
            let area_no = match kind {
                AreaType::Primary => number,
                AreaType::Secondary => 90 + number,
            };
            let code = format!("{}{:02}0000", p.code, area_no);
            let ai = areas.len();
            areas.push(Area { code: code.clone(), name: area_name(kind, p, number, numbered), kind, province: p.code.clone() });
            let ((la0, la1), (lo0, lo1)) = region_box(&p.region);
            for serial in 1..=n_schools {
                let idx = schools.len() as u64;
                let r = |k: u64| rng.f(&[tag::SCHOOL, idx, k]);
                // Secondary areas also cover provinces without an area of their own.
                let province = match (kind, scale) {
                    (AreaType::Secondary, Scale::National) if pi + 62 < provinces.len() && r(20) < 0.25 => {
                        provinces[pi + 62].code.clone()
                    }
                    _ => p.code.clone(),
                };
                // Real district and subdistrict codes of the province (data/districts.csv).
                let districts = reference::within(reference::districts(), &province);
                let district = match districts.get(rng.u(&[tag::SCHOOL, idx, 1]) as usize % districts.len().max(1)) {
                    Some(d) => d.code.clone(),
                    None => format!("{province}01"),
                };
                let subdistricts = reference::within(reference::subdistricts(), &district);
                let subdistrict = match subdistricts.get(rng.u(&[tag::SCHOOL, idx, 2]) as usize % subdistricts.len().max(1)) {
                    Some(s) => s.code.clone(),
                    None => format!("{district}01"),
                };
                let (lowest, highest, per_grade, name) = match kind {
                    AreaType::Primary => {
                        let (lo, hi) = match r(3) {
                            x if x < 0.80 => (1, 9),
                            x if x < 0.95 => (1, 12),
                            _ => (4, 9),
                        };
                        let total = (115.0 * (0.8 * rng.normal(&[tag::SCHOOL, idx, 4])).exp()).clamp(12.0, 3200.0);
                        let prefix = if r(5) < 0.15 { "โรงเรียนวัด" } else { "โรงเรียนบ้าน" };
                        let name = format!("{}{}{}", prefix, rng.pick(&[tag::SCHOOL, idx, 6], VILLAGE_A), rng.pick(&[tag::SCHOOL, idx, 7], VILLAGE_B));
                        (lo, hi, total / f64::from(hi - lo + 1), name)
                    }
                    AreaType::Secondary => {
                        let (lo, hi) = if r(3) < 0.85 { (10, 15) } else { (10, 12) };
                        let total = (700.0 * (0.8 * rng.normal(&[tag::SCHOOL, idx, 4])).exp()).clamp(60.0, 4800.0);
                        let name = if serial == 1 {
                            format!("โรงเรียน{}วิทยาคม", provinces.iter().find(|q| q.code == province).map_or("", |q| q.name_th.as_str()))
                        } else {
                            format!(
                                "โรงเรียน{}{}{}",
                                rng.pick(&[tag::SCHOOL, idx, 6], VILLAGE_A),
                                rng.pick(&[tag::SCHOOL, idx, 7], VILLAGE_B),
                                rng.pick(&[tag::SCHOOL, idx, 8], SECONDARY_SUFFIX)
                            )
                        };
                        (lo, hi, total / f64::from(hi - lo + 1), name)
                    }
                };
                let small = per_grade * f64::from(highest - lowest + 1) <= 120.0;
                let is_dltv = kind == AreaType::Primary && small && r(9) < 0.7;
                let internet = match r(10) {
                    x if x < 0.55 => "fiber",
                    x if x < 0.85 => "4g",
                    x if x < 0.96 => "satellite",
                    _ => "none",
                };
                let status = if r(11) < 0.01 { "merged" } else { "open" };
                let code4 = &code[..4];
                schools.push(School {
                    idx,
                    code: format!("10{}{:04}", code4, serial),
                    smis: format!("{}{:04}", code4, serial),
                    name,
                    area: ai,
                    province,
                    district,
                    subdistrict,
                    lat: la0 + (la1 - la0) * r(12),
                    lon: lo0 + (lo1 - lo0) * r(13),
                    lowest,
                    highest,
                    is_dltv,
                    internet,
                    status,
                    per_grade,
                });
            }
        }
        World { rng, areas, schools }
    }

    /// Students of `school` in grade `order` in academic year `year` (BE). Younger cohorts are smaller,
    /// as Thai births fall; each cohort keeps its size from year to year, less a little attrition.
    pub fn cohort_size(&self, school: &School, year: i32, order: i32) -> u64 {
        if !school.teaches(order) || school.status != "open" {
            return 0;
        }
        let cohort = year - order;
        let trend = 1.0 - 0.012 * f64::from(cohort - 2560);
        let noise = 1.0 + 0.15 * self.rng.normal(&[tag::COHORT, school.idx, cohort as u64]);
        let attrition = 1.0 - 0.004 * f64::from(order - school.lowest);
        (school.per_grade * trend * noise * attrition).round().max(1.0) as u64
    }

    /// Students by level (pre-primary, primary, lower, upper secondary) in year `year`.
    pub fn students_by_level(&self, school: &School, year: i32) -> [i64; 4] {
        let mut out = [0i64; 4];
        for order in school.lowest..=school.highest {
            let level = match order {
                1..=3 => 0,
                4..=9 => 1,
                10..=12 => 2,
                _ => 3,
            };
            out[level] += self.cohort_size(school, year, order) as i64;
        }
        out
    }

    pub fn area_of(&self, school: &School) -> &Area {
        &self.areas[school.area]
    }
}
