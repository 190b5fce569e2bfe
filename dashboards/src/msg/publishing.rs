//! Thai wording of the publishing pages and files.

use khlang_query::approvals::{Decision, Position, Status};

pub const TITLE: &str = "อนุมัติเผยแพร่ข้อมูล";
pub const STAFF_ONLY: &str = "หน้านี้สำหรับผู้อำนวยการเขตพื้นที่ ผู้ดูแลระบบ และเจ้าหน้าที่ของสำนักงานเขต";
pub const DECIDERS_ONLY: &str = "เฉพาะผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาหรือผู้ดูแลระบบที่อนุมัติหรือส่งกลับข้อมูลเพื่อเผยแพร่ได้";
pub const INTRO: &str = "ข้อมูลที่นำเข้าแล้วใช้ภายในสำนักงานได้ทันที ส่วนการเผยแพร่แก่สาธารณะและหน่วยงานภายนอกต้องเสนอผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาพิจารณาอนุมัติก่อน \
                         (อนุมัติ: เผยแพร่ · ไม่อนุมัติ: ทบทวนแก้ไขแล้วเสนอใหม่) สาธารณะเห็นข้อมูลชุดที่อนุมัติจนกว่าจะอนุมัติชุดใหม่";
/// "ข้อมูลชุดล่าสุดที่นำเข้า: ชุดที่ {seq} เมื่อ {time} น."
pub const LATEST_LOADED: &str = "ข้อมูลชุดล่าสุดที่นำเข้า: ชุดที่";
/// "… เมื่อ {time} น.": when something happened (also a column header).
pub const AT: &str = "เมื่อ";
pub const HOURS: &str = "น.";
pub const T_STATUS: &str = "สถานะการเผยแพร่แต่ละเขตพื้นที่";
pub const C_PUBLIC_SEES: &str = "ที่สาธารณะเห็น";
pub const NOT_PUBLISHED: &str = "ยังไม่เผยแพร่";
pub const NO_STUDENTS_IN_LATEST: &str = "ข้อมูลชุดล่าสุดยังไม่มีข้อมูลนักเรียนให้เผยแพร่";
/// "ตัวเลขที่จะเผยแพร่: {area} (ข้อมูลชุดที่ {seq})"
pub const TO_BE_PUBLISHED: &str = "ตัวเลขที่จะเผยแพร่:";
pub const REPORT_LINK: &str = "รายงานสารสนเทศ 4 ด้าน";
pub const REASON_OR_NOTE: &str = "เหตุผล / ข้อสังเกต";
pub const PROPOSE: &str = "เสนอ ผอ.สพท. พิจารณา";
pub const T_HISTORY: &str = "ประวัติการเสนอและการอนุมัติ";
pub const C_ACTION: &str = "การดำเนินการ";
/// "บันทึกแล้ว: {decision} ข้อมูลชุดที่ {state}"
pub const SAVED: &str = "บันทึกแล้ว:";

pub const PROPOSED: &str = "เสนอพิจารณา";
pub const APPROVED: &str = super::NAV_APPROVALS;
pub const RETURNED: &str = "ส่งกลับให้ทบทวนแก้ไข";
pub const LATEST_PUBLISHED: &str = "เผยแพร่ข้อมูลชุดล่าสุดแล้ว";
pub const AWAITING_DIRECTOR: &str = "รอ ผอ. พิจารณา";
pub const NOT_PROPOSED: &str = "ยังไม่ได้เสนอ";

/// A decision in Thai: one wording on the buttons, the history and the messages.
pub fn decision(d: Decision) -> &'static str {
    match d {
        Decision::Proposed => PROPOSED,
        Decision::Approved => APPROVED,
        Decision::Returned => RETURNED,
    }
}

/// Where an area stands, in one Thai phrase.
pub fn status(s: &Status) -> &'static str {
    match s.position() {
        Position::PublishedLatest => LATEST_PUBLISHED,
        Position::Returned => RETURNED,
        Position::Proposed => AWAITING_DIRECTOR,
        Position::NotProposed => NOT_PROPOSED,
    }
}
