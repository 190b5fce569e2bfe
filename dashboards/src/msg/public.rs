//! Thai wording of the public pages and files.

pub const TITLE: &str = "ข้อมูลสถิติการศึกษาเผยแพร่";
pub const INTRO: &str = "สถิติการศึกษาที่เผยแพร่ตาม พ.ร.บ.ข้อมูลข่าวสารของราชการ พ.ศ. 2540 เมื่อผู้อำนวยการสำนักงานเขตพื้นที่การศึกษาอนุมัติให้เผยแพร่แล้ว จำนวนที่น้อยกว่า 5 ไม่เผยแพร่ (แสดงเป็น –) เพื่อคุ้มครองข้อมูลส่วนบุคคล";
pub const ALL_AREAS: &str = "ทุกเขตพื้นที่";
pub const UNAPPROVED: &str = "ยังไม่มีข้อมูลที่ผู้อำนวยการอนุมัติให้เผยแพร่";
pub const DOWNLOADS: &str = "ดาวน์โหลดทุกรอบข้อมูลที่อนุมัติแล้ว:";
/// "… · อนุมัติให้เผยแพร่โดย {user} ({role}) เมื่อ {time} น."
pub const APPROVED_BY: &str = "อนุมัติให้เผยแพร่โดย";
/// "ไม่มีชุดข้อมูลเผยแพร่ชื่อ {view}: มี {views}"
pub const NO_SUCH_DATASET: &str = "ไม่มีชุดข้อมูลเผยแพร่ชื่อ";
pub const THERE_ARE: &str = "มี";

/// Added to a table's title: its figures are of the approved round.
pub const APPROVED_ROUND: &str = "(รอบข้อมูลที่อนุมัติให้เผยแพร่)";
pub const T_TESTS: &str = "ผลการทดสอบระดับชาติ (ปีการศึกษาล่าสุด)";
