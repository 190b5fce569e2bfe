//! The eight ministry feeds of data-contract §1: column names, Thai header aliases and which columns
//! a file must carry. Both the reader and the synthetic generator use these tables, so a header the
//! generator writes is always one the reader knows.

/// One column of a feed.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// English header, also the canonical name inside Khlang.
    pub name: &'static str,
    /// Thai header as the ministry systems export it.
    pub thai: &'static str,
    /// A file without this column is refused.
    pub required: bool,
}

const fn c(name: &'static str, thai: &'static str, required: bool) -> Column {
    Column { name, thai, required }
}

/// A feed: its file stem, what a load does with it, and its columns in the order the generator
/// writes them.
#[derive(Debug, Clone, Copy)]
pub struct Feed {
    pub name: &'static str,
    /// The warehouse table it loads into.
    pub table: &'static str,
    /// How a load writes that table.
    pub write: WriteRule,
    /// The keyed-hash column its citizen IDs become (feeds about people).
    pub key_column: Option<&'static str>,
    /// Which snapshots of the per-school summary its dates make a load rebuild.
    pub summary: Summary,
    /// Its files are named for the snapshot they hold (`students_2026-06-10.csv`): rows of another
    /// snapshot in a file refuse the load.
    pub named_by_snapshot: bool,
    pub columns: &'static [Column],
}

/// How a load writes a feed's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRule {
    /// The rows of every value of `scope` the pull holds (a snapshot, a year) are replaced; other
    /// values keep theirs.
    Replace { scope: &'static str },
    /// Within every value of `scope` the pull holds, rows are upserted by `keys`: a row the source
    /// no longer sends stays as it was (budget lines by document within a fiscal year).
    UpsertWithin { scope: &'static str, keys: &'static [&'static str] },
    /// Rows are upserted by `keys` across the table: one missing from a pull is kept (its history
    /// is in the table versions either way).
    Upsert { keys: &'static [&'static str] },
    /// The whole table is replaced.
    Overwrite,
}

impl WriteRule {
    /// The column whose values a load replaces, if it replaces by scope.
    pub fn scope(self) -> Option<&'static str> {
        match self {
            WriteRule::Replace { scope } | WriteRule::UpsertWithin { scope, .. } => Some(scope),
            WriteRule::Upsert { .. } | WriteRule::Overwrite => None,
        }
    }
}

/// Which snapshots of the per-school summary a feed's dates make a load rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    None,
    /// Its dates are student snapshots: each is rebuilt.
    Snapshots,
    /// Its dates are staff counts (`as_of_date`): the snapshots they count for are rebuilt.
    StaffDates,
}

impl Feed {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Canonical column name for a header cell in English or Thai (trimmed, case-insensitive for English).
    pub fn canonical(&self, header: &str) -> Option<&'static str> {
        let h = header.trim().trim_start_matches('\u{feff}');
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(h) || c.thai == h)
            .map(|c| c.name)
    }
}

pub const SCHOOLS: Feed = Feed {
    name: "schools",
    table: "schools",
    write: WriteRule::Upsert { keys: &["school_code"] },
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("school_code", "รหัสโรงเรียน", true),
        c("smis_code", "รหัส SMIS", true),
        c("school_name", "ชื่อโรงเรียน", true),
        c("area_code", "รหัสเขตพื้นที่", true),
        c("province_code", "รหัสจังหวัด", true),
        c("district_code", "รหัสอำเภอ", true),
        c("subdistrict_code", "รหัสตำบล", true),
        c("latitude", "ละติจูด", false),
        c("longitude", "ลองจิจูด", false),
        c("lowest_grade", "ชั้นต่ำสุด", true),
        c("highest_grade", "ชั้นสูงสุด", true),
        c("is_dltv", "โรงเรียน DLTV", true),
        c("internet", "อินเทอร์เน็ต", true),
        c("status", "สถานะ", true),
    ],
};

pub const AREAS: Feed = Feed {
    name: "areas",
    table: "areas",
    write: WriteRule::Upsert { keys: &["area_code"] },
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("area_code", "รหัสเขตพื้นที่", true),
        c("area_name", "ชื่อเขตพื้นที่", true),
        c("area_type", "ประเภทเขตพื้นที่", true),
        c("province_code", "รหัสจังหวัด", true),
    ],
};

pub const STUDENTS: Feed = Feed {
    name: "students",
    table: "enrollments",
    write: WriteRule::Replace { scope: "snapshot_date" },
    key_column: Some("student_key"),
    summary: Summary::Snapshots,
    named_by_snapshot: true,
    columns: &[
        c("academic_year", "ปีการศึกษา", true),
        c("snapshot_date", "วันที่ข้อมูล", true),
        c("school_code", "รหัสโรงเรียน", true),
        c("citizen_id", "เลขประจำตัวประชาชน", true),
        c("grade", "ชั้น", true),
        c("classroom", "ห้อง", true),
        c("sex", "เพศ", true),
        c("birth_date", "วันเกิด", true),
        c("nationality", "สัญชาติ", false),
        c("disadvantaged", "ด้อยโอกาส", false),
        c("disability", "ความพิการ", false),
        c("weight_kg", "น้ำหนัก", false),
        c("height_cm", "ส่วนสูง", false),
        c("status", "สถานะ", true),
    ],
};

pub const PERSONNEL: Feed = Feed {
    name: "personnel",
    table: "personnel",
    write: WriteRule::Replace { scope: "as_of_date" },
    key_column: Some("person_key"),
    summary: Summary::StaffDates,
    named_by_snapshot: false,
    columns: &[
        c("as_of_date", "วันที่ข้อมูล", true),
        c("citizen_id", "เลขประจำตัวประชาชน", true),
        c("school_code", "รหัสโรงเรียน", true),
        // Only office staff (no school) need it; a school-only HRMS export leaves it out and each
        // person takes their school's area.
        c("area_code", "รหัสเขตพื้นที่", false),
        c("position", "ตำแหน่ง", true),
        c("academic_standing", "วิทยฐานะ", true),
        c("major_subject", "วิชาเอก", false),
        c("degree", "วุฒิการศึกษา", false),
        c("sex", "เพศ", true),
        c("birth_date", "วันเกิด", true),
        c("appointed_date", "วันบรรจุ", true),
        c("salary_baht", "เงินเดือน", true),
    ],
};

pub const BUDGET: Feed = Feed {
    name: "budget",
    table: "budget_lines",
    write: WriteRule::UpsertWithin { scope: "fiscal_year", keys: &["fiscal_year", "document_no"] },
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("fiscal_year", "ปีงบประมาณ", true),
        c("area_code", "รหัสเขตพื้นที่", true),
        c("school_code", "รหัสโรงเรียน", true),
        c("category", "หมวดรายจ่าย", true),
        c("allocated_baht", "งบจัดสรร", true),
        c("disbursed_baht", "เบิกจ่าย", true),
        c("transaction_date", "วันที่รายการ", true),
        c("document_no", "เลขที่เอกสาร", true),
    ],
};

pub const TESTS: Feed = Feed {
    name: "tests",
    table: "test_results",
    write: WriteRule::Replace { scope: "academic_year" },
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("academic_year", "ปีการศึกษา", true),
        c("test", "การทดสอบ", true),
        c("school_code", "รหัสโรงเรียน", true),
        c("subject", "วิชา", true),
        c("examinees", "จำนวนผู้เข้าสอบ", true),
        c("mean_score", "คะแนนเฉลี่ย", true),
    ],
};

pub const BUILDINGS: Feed = Feed {
    name: "buildings",
    table: "buildings",
    write: WriteRule::Overwrite,
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("school_code", "รหัสโรงเรียน", true),
        c("building_id", "รหัสอาคาร", true),
        c("building_type", "ประเภทอาคาร", true),
        c("built_year", "ปีที่สร้าง", true),
        c("condition", "สภาพ", true),
        c("area_m2", "พื้นที่ใช้สอย", true),
    ],
};

pub const DLTV_EQUIPMENT: Feed = Feed {
    name: "dltv_equipment",
    table: "dltv_equipment",
    write: WriteRule::Overwrite,
    key_column: None,
    summary: Summary::None,
    named_by_snapshot: false,
    columns: &[
        c("school_code", "รหัสโรงเรียน", true),
        c("item", "รายการ", true),
        c("installed", "ติดตั้ง", true),
        c("working", "ใช้งานได้", true),
        c("last_checked", "ตรวจสอบล่าสุด", true),
    ],
};

/// All feeds, in load order (reference feeds first: students are checked against schools).
pub const ALL: [Feed; 8] = [AREAS, SCHOOLS, STUDENTS, PERSONNEL, BUDGET, TESTS, BUILDINGS, DLTV_EQUIPMENT];

/// The feed a file belongs to: `<feed>.csv|xlsx` or `<feed>_<anything>.csv|xlsx`.
pub fn feed_of_file(file_name: &str) -> Option<Feed> {
    let lower = file_name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".csv").or_else(|| lower.strip_suffix(".xlsx"))?;
    // Longest name first so `dltv_equipment_x` is not taken for another feed's prefix.
    let mut feeds = ALL.to_vec();
    feeds.sort_by_key(|f| std::cmp::Reverse(f.name.len()));
    feeds
        .into_iter()
        .find(|f| stem == f.name || stem.strip_prefix(f.name).is_some_and(|rest| rest.starts_with('_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_feeds() {
        assert_eq!(feed_of_file("students_2568-06-10.csv").map(|f| f.name), Some("students"));
        assert_eq!(feed_of_file("dltv_equipment.csv").map(|f| f.name), Some("dltv_equipment"));
        assert_eq!(feed_of_file("Personnel_2569.XLSX").map(|f| f.name), Some("personnel"));
        assert!(feed_of_file("studentsx.csv").is_none());
        assert!(feed_of_file("_manifest.json").is_none());
    }

    #[test]
    fn thai_headers_are_known() {
        assert_eq!(STUDENTS.canonical("เลขประจำตัวประชาชน"), Some("citizen_id"));
        assert_eq!(STUDENTS.canonical("\u{feff}Academic_Year"), Some("academic_year"));
        assert_eq!(STUDENTS.canonical("nickname"), None);
    }

    #[test]
    fn each_feed_names_a_contract_table_and_columns_it_has() {
        for f in ALL {
            let def = khlang_warehouse::schema::table(f.table);
            assert!(def.is_some(), "{}: no table {}", f.name, f.table);
            let Some(def) = def else { continue };
            let has = |c: &str| def.schema.field_with_name(c).is_ok();
            if let Some(scope) = f.write.scope() {
                assert!(has(scope), "{}: scope column {scope}", f.name);
            }
            if let WriteRule::Upsert { keys } | WriteRule::UpsertWithin { keys, .. } = f.write {
                assert!(keys.iter().all(|k| has(k)), "{}: keys {keys:?}", f.name);
            }
            if let Some(key) = f.key_column {
                assert!(has(key) && f.column("citizen_id").is_some(), "{}: key column {key}", f.name);
            }
            assert_eq!(f.summary != Summary::None, matches!(f.write, WriteRule::Replace { .. }) && f.key_column.is_some(), "{}", f.name);
        }
    }
}
