//! Thai wording of the quality pages and files (`/quality`, `khlang quality`). The title is
//! `msg::QUALITY_TITLE`; words other pages share are reused from `msg`, `msg::admin` and `msg::usage`.

/// A rule without an explanation in `data/rule_explanations.csv`.
pub const NO_EXPLANATION: &str = "ข้อมูลไม่ผ่านการตรวจสอบ";
pub const NO_FIX: &str = "ดูรายละเอียดแล้วแก้ไขในระบบต้นทาง";

pub const ALL_SCHOOLS: &str = "ทุกโรงเรียน";
/// Before the snapshot's date.
pub const STUDENT_ROUND: &str = "รอบข้อมูลนักเรียน";
/// Before the previous snapshot's date.
pub const COMPARED_WITH: &str = "เทียบกับรอบ";

/// Which published state of the warehouse the report was built from.
pub fn version(commit: &str) -> String {
    format!("ข้อมูลรุ่นที่ {commit} ของคลังข้อมูล")
}

/// When the report was made (`at` in Thai date and time).
pub fn generated(at: &str) -> String {
    format!("{} {at} น.", super::GENERATED)
}

// Headline figures.
pub const TO_FIX: &str = "รายการที่ต้องแก้ไข";
pub const SCHOOLS_TO_FIX: &str = "โรงเรียนที่ต้องแก้ไข";

// The schools' submissions.
pub const T_SUBMISSIONS: &str = "การส่งข้อมูลของแต่ละโรงเรียน";
/// The submissions' sheet.
pub const SHEET_SUBMISSIONS: &str = "การส่งข้อมูล";
pub const C_STUDENTS_NOW: &str = "นักเรียนรอบนี้";
pub const C_STUDENTS_BEFORE: &str = "รอบก่อน";

// What each school must fix.
pub const UNKNOWN_SCHOOL: &str = "รายการที่ไม่ทราบโรงเรียน";
pub const C_FILE: &str = "แฟ้ม";
pub const C_PROBLEM: &str = "ปัญหา";
pub const C_FIX: &str = "วิธีแก้ไข";
pub const C_DETAIL: &str = "รายละเอียด";
