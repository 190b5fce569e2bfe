//! Thai wording of the calendar pages and files (`/calendar`, `khlang calendar status`). Words
//! other pages share are reused from `msg`, `msg::admin` and `msg::usage`.

pub const TITLE: &str = "ปฏิทินการรายงานข้อมูล";

// A school against a deadline (also `msg::C_ON_TIME`, `C_SENT_LATE`, `C_MISSING`).
pub const NOT_YET_DUE: &str = "ยังไม่ส่ง (ยังไม่ถึงกำหนด)";

// The table of deadlines.
pub const T_DEADLINES: &str = "กำหนดส่งข้อมูล";
pub const C_NO: &str = "ที่";
pub const C_ITEM: &str = "รายการ";
pub const C_FEED: &str = "ข้อมูล";
pub const C_LATE_OR_MISSING: &str = "ล่าช้า/ยังไม่ส่ง";
pub const C_WITH_REJECTED: &str = "มีแถวถูกปฏิเสธค้าง";
pub const NO_DEADLINES: &str = "ยังไม่ได้กำหนดวันส่งข้อมูล";

// One deadline's schools.
pub const STATUS_ON: &str = "สถานะ ณ วันที่";
pub const SUBMITTED_MEANS: &str = "วันที่ส่งคือวันที่การนำเข้าข้อมูลรอบแรกที่มีข้อมูลของโรงเรียนเสร็จ (เวลาประเทศไทย)";
pub const LATE_LIST: &str = "รายชื่อโรงเรียนที่ส่งล่าช้า:";
pub const T_SCHOOLS: &str = "การส่งข้อมูลของโรงเรียน";
pub const C_SUBMITTED_ON: &str = "วันที่ส่ง";
pub const C_REJECTED_OPEN: &str = "แถวที่ถูกปฏิเสธค้างอยู่";
/// The late list's sheet (and its table).
pub const LATE_SHEET: &str = "โรงเรียนที่ส่งล่าช้า";

// The form that adds a deadline.
pub const PERIOD_HINT: &str = "รอบ (วันที่ข้อมูล เช่น 2026-06-10 หรือ ปีงบประมาณ-ไตรมาส เช่น 2569-Q2)";
pub const NAME: &str = "ชื่อรายการ";
pub const ADD: &str = "เพิ่มกำหนดส่ง";
pub const FORBIDDEN: &str = "เฉพาะเจ้าหน้าที่ของสำนักงานเขต (ผู้ดูแลระบบหรือนักวิเคราะห์) ที่แก้ไขปฏิทินการรายงานข้อมูลได้";

pub fn added(id: u32) -> String {
    format!("เพิ่มกำหนดส่งหมายเลข {id} แล้ว")
}

pub fn removed(id: u32) -> String {
    format!("ลบกำหนดส่งหมายเลข {id} แล้ว")
}

pub fn no_such_deadline(id: u32) -> String {
    format!("ไม่มีกำหนดส่งหมายเลข {id}")
}

/// A feed of the calendar in Thai.
pub fn feed(feed: &str) -> &'static str {
    match feed {
        "students" => "ข้อมูลนักเรียน",
        "personnel" => "ข้อมูลบุคลากร",
        "budget" => "ข้อมูลงบประมาณ",
        "tests" => super::THEME_TESTS,
        "buildings" => "ข้อมูลอาคารเรียน",
        "schools" => "ข้อมูลโรงเรียน",
        "areas" => "ข้อมูลเขตพื้นที่",
        _ => C_FEED,
    }
}
