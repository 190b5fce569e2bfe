//! Thai wording of the requests pages and files.

pub const FORM_TITLE: &str = "แบบคำร้องขอเข้าถึงข้อมูลสารสนเทศ";
pub const FORM_INTRO: &str = "ผู้ที่ยังไม่มีบัญชี หรือต้องการเข้าถึงข้อมูลมากกว่าสิทธิ์ที่มี กรอกคำร้องนี้ ผู้ดูแลระบบจะพิจารณาและแจ้งผล เมื่ออนุมัติแล้วผู้ขอจะได้รับลิงก์สำหรับตั้งรหัสผ่านเอง";
pub const FULL_NAME: &str = "ชื่อ-นามสกุล";
pub const WANTED_USER_NAME: &str = "ชื่อผู้ใช้ที่ต้องการ (หรือชื่อผู้ใช้เดิมเพื่อขยายสิทธิ์)";
pub const DATA_WANTED: &str = "ข้อมูลที่ขอ (ตารางหรือรายงาน)";
pub const ROLE_WANTED: &str = "สิทธิ์ที่ขอ";
pub const AREA_FIELD: &str = "รหัสเขตพื้นที่ (8 หลัก)";
pub const SCHOOL_FIELD: &str = "รหัสโรงเรียน (10 หลัก)";
pub const PURPOSE: &str = "วัตถุประสงค์";
pub const FROM: &str = "ใช้ข้อมูลตั้งแต่";
pub const UNTIL: &str = "ถึง";
pub const SUBMIT: &str = "ส่งคำร้อง";
/// "รับคำร้องแล้ว เลขที่คำร้อง {id} ผู้ดูแลระบบจะพิจารณาและแจ้งผล"
pub const FILED: &str = "รับคำร้องแล้ว เลขที่คำร้อง";
pub const WILL_DECIDE: &str = "ผู้ดูแลระบบจะพิจารณาและแจ้งผล";

pub const C_SCOPE: &str = "สิทธิ์ / ขอบเขต";
pub const C_DATA_AND_PURPOSE: &str = "ข้อมูลและวัตถุประสงค์";
pub const C_PERIOD: &str = "ช่วงเวลา";
pub const C_OUTCOME: &str = "ผล";
pub const UNTIL_DAY: &str = "ถึงวันที่";
pub const GRANT: &str = "อนุมัติ";
pub const REFUSE: &str = "ไม่อนุมัติ";
/// "อนุมัติถึง {date} โดย {admin}"
pub const GRANTED_UNTIL: &str = "อนุมัติถึง";
pub const ADMINS_DECIDE: &str = "เฉพาะผู้ดูแลระบบที่พิจารณาคำร้องได้";
/// "อนุมัติคำร้องเลขที่ {id} แล้ว ส่งลิงก์นี้ให้ผู้ขอเพื่อตั้งรหัสผ่านเอง (ใช้ได้ครั้งเดียว): {link}"
pub const GRANTED_REQUEST: &str = "อนุมัติคำร้องเลขที่";
pub const SEND_LINK: &str = "แล้ว ส่งลิงก์นี้ให้ผู้ขอเพื่อตั้งรหัสผ่านเอง (ใช้ได้ครั้งเดียว):";
/// "อนุมัติคำร้องเลขที่ {id} แล้ว: ขยายสิทธิ์ของผู้ใช้ {user} (ใช้รหัสผ่านเดิม)"
pub const WIDENED: &str = "แล้ว: ขยายสิทธิ์ของผู้ใช้";
pub const SAME_PASSWORD: &str = "(ใช้รหัสผ่านเดิม)";
pub const REFUSED_REQUEST: &str = "ไม่อนุมัติคำร้องเลขที่";

pub const SET_PASSWORD: &str = "ตั้งรหัสผ่าน";
pub const NEW_PASSWORD: &str = "รหัสผ่านใหม่ (อย่างน้อย 8 ตัวอักษร)";
/// "ตั้งรหัสผ่านของ {user} แล้ว"
pub const PASSWORD_SET_OF: &str = "ตั้งรหัสผ่านของ";
pub const DONE: &str = "แล้ว";
