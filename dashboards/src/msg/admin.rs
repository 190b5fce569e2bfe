//! Thai wording of the pages for the people who run the warehouse (`/admin/ingest`, `/admin/usage`).

pub const INGEST_TITLE: &str = "การนำเข้าข้อมูลและคุณภาพข้อมูล";
pub const INGEST_FORBIDDEN: &str = "หน้านี้สำหรับผู้ดูแลระบบและเจ้าหน้าที่ ICT (บัญชีผู้ดูแลหรือนักวิเคราะห์)";
pub const QUALITY_LINK: &str = "รายงานคุณภาพข้อมูลรายโรงเรียน (ส่งให้โรงเรียนแก้ไข)";
pub const CALENDAR_LINK: &str = "ปฏิทินการรายงานข้อมูล: โรงเรียนที่ส่งล่าช้าและรายชื่อสำหรับแจ้งโรงเรียน";
pub const T_RUNS: &str = "การนำเข้าข้อมูลล่าสุด (30 รอบ)";
pub const T_FEEDS: &str = "แต่ละชุดข้อมูลในรอบล่าสุด";
pub const T_REJECTED_BY_RULE: &str = "แถวที่ถูกปฏิเสธในรอบล่าสุด จำแนกตามกฎ";
pub const T_SUBMISSIONS: &str = "การส่งข้อมูลนักเรียนของโรงเรียน รอบล่าสุด";
pub const C_STARTED: &str = "เริ่ม (UTC)";
pub const C_SOURCE: &str = "แหล่งข้อมูล";
pub const C_READ: &str = "อ่าน";
pub const C_LOADED: &str = "นำเข้า";
pub const C_REJECTED: &str = "ปฏิเสธ";
pub const C_FEED: &str = "ชุดข้อมูล";
pub const C_TABLE_VERSION: &str = "รุ่นตาราง";
pub const C_MESSAGE: &str = "ข้อความ";
pub const C_RULE: &str = "กฎที่ไม่ผ่าน";

pub const USAGE_TITLE: &str = "สถิติการใช้งานคลังข้อมูล";
pub const USAGE_REPORT_LINK: &str = "รายงานผลการพัฒนาและการใช้งานระบบคลังข้อมูลประจำปีงบประมาณ (PDF, XLSX)";
pub const T_BY_USER: &str = "การใช้งานรายผู้ใช้ 90 วันล่าสุด";
pub const T_BY_DAY: &str = "จำนวนครั้งการใช้งานรายวัน 90 วันล่าสุด";
pub const T_BY_TABLE: &str = "ตารางที่ถูกใช้มากที่สุด";
pub const T_FAILED_LOGINS: &str = "การเข้าสู่ระบบไม่สำเร็จ 90 วันล่าสุด";
pub const C_USER: &str = "ผู้ใช้";
pub const C_ROLE: &str = "บทบาท";
pub const C_QUERIES: &str = "คำสั่ง SQL";
pub const C_EXPORTS: &str = "ส่งออกข้อมูล";
pub const C_REPORTS: &str = "เปิดรายงาน";
pub const C_LOGINS: &str = super::SIGN_IN;
pub const C_DAY: &str = "วันที่";
pub const C_TIMES: &str = "ครั้ง";
pub const C_TABLE_OR_REPORT: &str = "ตาราง / รายงาน";
pub const C_ROWS_EXPORTED: &str = "แถวที่ส่งออก";
pub const C_FROM: &str = "จาก";
