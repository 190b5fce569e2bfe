//! Thai wording of the yearly report on the warehouse's development and use (แบบ 7.1/7.2,
//! `/admin/usage-report` and `khlang usage-report`). Words other pages share are reused from
//! `msg` and `msg::admin`.

pub const TITLE: &str = "รายงานผลการพัฒนาและการใช้งานระบบคลังข้อมูล";
/// Before the fiscal year in the document's name.
pub const NAME: &str = "(Big Data) ประจำปีงบประมาณ";
pub const FORM: &str = "แบบบันทึกและรายงานผลการพัฒนาและการใช้งานระบบคลังข้อมูล (แบบ 7.1/7.2) เสนอผู้อำนวยการสำนักงานเขตพื้นที่การศึกษา";
pub const KEYWORD: &str = "Big Data";

/// The year's first and last day, under the name.
pub fn between(first: &str, last: &str) -> String {
    format!("ระหว่างวันที่ {first} ถึง {last}")
}

/// On every page: what the figures come from (`version` is `ข้อมูลชุดที่ n`).
pub fn footer(version: &str, until: &str) -> String {
    format!("จาก audit_log, ingest_runs และ rejected_rows · {version} · ข้อมูลถึงวันที่ {until}")
}

// Units.
pub const U_SETS: &str = "ชุด";
pub const U_ACCOUNTS: &str = "บัญชี";
pub const U_FORMS: &str = "ฉบับ";
/// Deadlines counted as items (the wording of the calendar's item column).
pub const U_ITEMS: &str = super::calendar::C_ITEM;

// Words shared by several tables of the report.
pub const C_MONTH: &str = "เดือน";
pub const C_SUCCEEDED: &str = "สำเร็จ";
pub const C_FAILED: &str = "ไม่สำเร็จ";
pub const C_ROWS_LOADED: &str = "แถวที่นำเข้า";
pub const C_ROWS_REJECTED: &str = "แถวที่ถูกปฏิเสธ";
pub const C_IN_LAST_LOAD: &str = "ในการนำเข้าครั้งสุดท้ายของรอบ";
pub const C_FIXED_NEXT: &str = "แก้ไขแล้วในรอบถัดไป";
pub const C_ACCOUNTS: &str = "บัญชีผู้ใช้";
pub const C_LOGINS: &str = "ครั้งที่เข้าสู่ระบบ";
pub const GRANTED: &str = "อนุญาต";
pub const REFUSED: &str = "ไม่อนุญาต";

// 1. Loads.
pub const F_RUNS: &str = "ครั้งที่นำเข้าข้อมูล";
pub const F_RUNS_FAILED: &str = "นำเข้าไม่สำเร็จ";
pub const F_FEED_LOADS: &str = "ชุดข้อมูลที่นำเข้า";
pub const T_LOADS_BY_FEED: &str = "การนำเข้าแยกตามชุดข้อมูล";
pub const C_ROWS_READ: &str = "แถวที่อ่าน";
/// The `(run)` line of a load that stopped before loading any feed.
pub const WHOLE_RUN: &str = "ทั้งรอบ (หยุดก่อนนำเข้า)";
pub const T_LOADS_BY_MONTH: &str = "การนำเข้ารายเดือน";
pub const N_LOADS: &str = "ครั้งที่นำเข้า: รอบการนำเข้า (khlang ingest หรือรอบกลางคืน) ที่เริ่มในปีงบประมาณ นับตาม ingest_runs.run_id; ไม่สำเร็จ: รอบที่มีชุดข้อมูลใดไม่สำเร็จ ซึ่งไม่มีข้อมูลใดถูกเผยแพร่";

// 2. Rejected rows.
pub const P_REJECTED: &str = "คุณภาพข้อมูลที่นำเข้า";
pub const T_REJECTED_BY_RULE: &str = "แถวที่ถูกปฏิเสธแยกตามกฎ และที่แก้ไขแล้วในการนำเข้ารอบถัดไป";
pub const C_STILL_REJECTED: &str = "ยังถูกปฏิเสธในรอบถัดไป";
pub const C_WAITING: &str = "รอรอบถัดไป";
pub const T_REJECTED_CHART: &str = "แถวที่ถูกปฏิเสธและที่แก้ไขแล้ว แยกตามกฎ";
pub const N_REJECTED: &str = "รอบ: ข้อมูลชุดเดียวกันของวันที่หรือปีเดียวกัน (เช่น นักเรียน ณ 10 มิ.ย.); การนำเข้าซ้ำในรอบเดียวกันนับเฉพาะครั้งสุดท้าย. แก้ไขแล้ว: ในการนำเข้าครั้งสุดท้ายของรอบถัดไปของชุดข้อมูลเดียวกัน \
                                 โรงเรียนนั้นมีแถวที่ผิดกฎเดียวกันน้อยลงเท่าใด (โรงเรียนและกฎเดียวกัน); รอรอบถัดไป: ยังไม่มีการนำเข้ารอบถัดไป";

// 3. The reporting calendar.
pub const T_CALENDAR: &str = "การส่งข้อมูลตามกำหนด";
pub const C_REJECTED_OPEN: &str = "มีแถวที่ถูกปฏิเสธค้าง";
pub const T_LATE_SCHOOLS: &str = "โรงเรียนที่ส่งข้อมูลล่าช้า (ล่าช้ามากที่สุด 100 แห่งแรก)";
pub const F_DEADLINES: &str = "กำหนดส่งในปีงบประมาณ";
pub const F_LATE: &str = "โรงเรียนที่ล่าช้า (รายกำหนดส่ง)";
pub const T_CALENDAR_CHART: &str = "การส่งข้อมูลตามกำหนดส่ง";
pub const C_CHART_ON_TIME: &str = "ทันกำหนด";
pub const C_CHART_LATE: &str = "ล่าช้า";
pub const C_CHART_MISSING: &str = "ยังไม่ส่ง";

pub fn n_calendar(on: &str) -> String {
    format!("กำหนดส่งที่ครบกำหนดในปีงบประมาณ ตามปฏิทินการรายงาน (khlang calendar), ณ วันที่ {on}; รายชื่อทั้งหมด: khlang calendar status")
}

// 4. Users and sign-ins.
pub const P_USERS: &str = "ผู้ใช้และการเข้าสู่ระบบ";
pub const T_USERS_BY_ROLE: &str = "ผู้ใช้และการเข้าสู่ระบบแยกตามบทบาท";
pub const C_EXPIRED: &str = "บัญชีหมดอายุ";
pub const C_USERS_SIGNED_IN: &str = "ผู้ใช้ที่เข้าสู่ระบบ";
pub const F_LOGINS_FAILED: &str = "เข้าสู่ระบบไม่สำเร็จ";
pub const T_LOGINS_CHART: &str = "การเข้าสู่ระบบแยกตามบทบาท";
pub const N_USERS: &str = "บัญชีผู้ใช้: ณ วันที่จัดทำรายงาน; การเข้าสู่ระบบ: ทางเว็บ, HTTP API และโปรแกรมที่ต่อด้วยโพรโทคอล PostgreSQL ในปีงบประมาณ";

// 5. Use of the data.
pub const P_USE: &str = "การใช้ข้อมูล";
pub const T_USE_BY_MONTH: &str = "การใช้ข้อมูลรายเดือน";
pub const T_USE_BY_TABLE: &str = "การใช้ข้อมูลแยกตามตาราง";
pub const C_TABLE: &str = "ตาราง";
pub const T_REPORTS_BY_KIND: &str = "รายงานที่เปิดแยกตามประเภท";
pub const C_KIND: &str = "ประเภท";
pub const N_USE: &str = "คำสั่ง SQL: ทุกช่องทาง (เว็บ, HTTP API, PostgreSQL); ส่งออกข้อมูล: ผลลัพธ์เป็นไฟล์ CSV, XLSX, Parquet หรือ Arrow; เปิดรายงาน: หน้ารายงานและไฟล์ PDF/XLSX (ไม่นับภาพแผนภูมิในหน้า)";

// 6. The most used.
pub const P_TOP: &str = "คำสั่งที่บันทึกไว้และรายงานที่ใช้มากที่สุด";
pub const S_TOP: &str = "ที่ใช้มากที่สุด";
pub const T_TOP_SAVED: &str = "คำสั่งที่บันทึกไว้ที่ใช้มากที่สุด";
pub const T_TOP_REPORTS: &str = "รายงานที่เปิดมากที่สุด";
pub const F_SAVED_RUNS: &str = "ครั้งที่ใช้คำสั่งที่บันทึกไว้";
pub const C_QUERY: &str = "คำสั่ง";

// 7. Access requests and publishing approvals.
pub const P_PROCESS: &str = "คำร้องขอเข้าถึงข้อมูลและการอนุมัติเผยแพร่";
pub const S_PROCESS: &str = "คำร้องและการอนุมัติ";
pub const F_PROPOSED: &str = "เสนอขออนุมัติเผยแพร่";
pub const F_RETURNED: &str = super::publishing::RETURNED;
pub const T_REQUESTS: &str = "คำร้องขอเข้าถึงข้อมูลที่พิจารณาแล้ว";
pub const C_DATA: &str = "ข้อมูลที่ขอ";
pub const C_DECISION: &str = "ผลการพิจารณา";
pub const C_UNTIL_OR_REASON: &str = "ถึงวันที่ / เหตุผล";
pub const PENDING: &str = "รอพิจารณา";
pub const T_APPROVALS: &str = "การเสนอและอนุมัติเผยแพร่";
pub const C_DATA_AS_OF: &str = "ข้อมูล ณ";
pub const C_REVIEW: &str = "การพิจารณา";
pub const ALL_AREAS: &str = super::public::ALL_AREAS;

// Reports and pages as the audit log names them (`area 56010000 overview`).
/// Before an area's code: `เขต 56010000`.
pub const AREA: &str = "เขต";
pub const QUALITY_REPORT: &str = "รายงานคุณภาพข้อมูล";
pub const USAGE_REPORT: &str = "รายงานการใช้งานคลังข้อมูล";
pub const DISTRICT_PAGE: &str = "หน้าอำเภอ";
pub const AREA_PAGE: &str = "หน้าแดชบอร์ดเขตพื้นที่";
pub const SCHOOL_PAGE: &str = "หน้าแดชบอร์ดโรงเรียน";
