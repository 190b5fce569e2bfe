//! The Thai message catalogue of the web app and the reports: every label a reader sees. Words
//! shared by several pages are here; a page's own wording is in its submodule.

pub mod admin;
pub mod calendar;
pub mod public;
pub mod publishing;
pub mod quality;
pub mod requests;
pub mod usage;

pub const APP: &str = "คลังข้อมูล";
/// Months as dates are written in tables: `10 มิ.ย. 2569`.
pub const MONTHS: [&str; 12] = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."];
/// Months as official letters write them: `10 มิถุนายน 2569`.
pub const MONTHS_LONG: [&str; 12] =
    ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"];
pub const MILLION: &str = "ล้าน";
pub const APP_FOOTER: &str = "คลังข้อมูลสารสนเทศทางการศึกษา (Khlang)";
pub const NO_DATA_SHORT: &str = "ไม่มีข้อมูล";
pub const CHART_TABLE: &str = "ตารางข้อมูลของแผนภูมิ";
pub const PNG_PICTURE: &str = "ภาพ PNG";
pub const DEFINITIONS: &str = "นิยามตัวชี้วัด";

// Words the operators' pages share (ingest, calendar, quality, requests, usage).
pub const C_DEADLINE: &str = "กำหนดส่ง";
pub const C_RULE_SHORT: &str = "กฎ";
pub const P_CALENDAR: &str = "การส่งข้อมูลตามปฏิทินการรายงาน";
pub const C_ON_TIME: &str = "ส่งทันกำหนด";
pub const C_SENT_LATE: &str = "ส่งล่าช้า";
pub const C_MISSING: &str = "ยังไม่ส่ง (เลยกำหนด)";
pub const C_SCHOOL_NAME: &str = "ชื่อโรงเรียน";
pub const C_DAYS_LATE: &str = "ล่าช้า (วัน)";
pub const C_NUMBER: &str = "เลขที่";
pub const C_REQUESTER: &str = "ผู้ขอ";
pub const C_AGENCY: &str = "หน่วยงาน";
pub const C_BY: &str = "โดย";
pub const C_REASON: &str = "เหตุผล";
pub const ADMINS_ONLY: &str = "หน้านี้สำหรับผู้ดูแลระบบ";
pub const C_RUN: &str = "รอบ";
pub const C_STATUS: &str = "สถานะ";
pub const C_ROWS: &str = "แถว";

pub const REPORT_TITLE: &str = "ข้อมูลสารสนเทศ 4 ด้าน";
pub const ACADEMIC: &str = "ด้านการบริหารวิชาการ";
pub const BUDGET: &str = "ด้านการบริหารงบประมาณ";
pub const PERSONNEL: &str = "ด้านการบริหารงานบุคคล";
pub const GENERAL: &str = "ด้านการบริหารทั่วไป";

pub const SNAPSHOT: &str = "ข้อมูลนักเรียน ณ";
pub const FISCAL_YEAR: &str = "ปีงบประมาณ";
pub const ACADEMIC_YEAR: &str = "ปีการศึกษา";
pub const DATA_VERSION: &str = "ข้อมูลชุดที่";
pub const GENERATED: &str = "จัดทำเมื่อ";
pub const AS_OF: &str = "ณ";
pub const QUARTER: &str = "ไตรมาส";
pub const PAGE: &str = "หน้า";
pub const OF: &str = "จาก";

pub const ERROR_TITLE: &str = "เกิดข้อผิดพลาด";
pub const BACK_HOME: &str = "กลับหน้าแรก";
pub const NO_SUCH_PAGE: &str = "ไม่มีหน้า";
pub const NO_SUCH_CHART: &str = "ไม่มีแผนภูมิ";
pub const NO_SCHOOLS_IN_DISTRICT: &str = "ไม่พบโรงเรียนของเขตพื้นที่นี้ในอำเภอรหัส";
pub const SCHOOLS_IN: &str = "โรงเรียนใน";
pub const OVERVIEW: &str = "ภาพรวม";
pub const DATA_ROUND: &str = "รอบข้อมูล";
pub const SHOW: &str = "แสดง";
pub const WEB: &str = "เว็บ";
pub const AREA_CODE: &str = "รหัสเขตพื้นที่";
pub const PROVINCE: &str = "จังหวัด";
pub const CHOOSE_AREA: &str = "เลือกเขตพื้นที่การศึกษา";
pub const T_AREAS: &str = "สำนักงานเขตพื้นที่การศึกษา";
pub const T_DISTRICTS: &str = "สรุปรายอำเภอ (เลือกอำเภอเพื่อดูรายโรงเรียน)";
pub const C_CODE: &str = "รหัส";
pub const C_AREA: &str = "เขตพื้นที่";
pub const C_REPORT: &str = "รายงาน";
pub const THEME_DISTRICTS: &str = "รายอำเภอ";
pub const THEME_STAFFING: &str = "ครูขาด/เกินเกณฑ์";
pub const THEME_RETIREMENTS: &str = "การเกษียณอายุ";
pub const THEME_DISBURSEMENT: &str = "การเบิกจ่าย";
pub const THEME_TESTS: &str = "ผลการทดสอบ";

pub const NO_SUCH_AREA: &str = "ไม่พบสำนักงานเขตพื้นที่การศึกษารหัส";
pub const NO_SUCH_SCHOOL: &str = "ไม่พบโรงเรียนรหัส";
pub const NO_DATA: &str = "ยังไม่มีข้อมูลนักเรียนของหน่วยงานรหัส";
pub const NOT_FOUND_TITLE: &str = "ไม่พบข้อมูล";
pub const BAD_REQUEST_TITLE: &str = "คำขอไม่ถูกต้อง";
pub const FORBIDDEN_TITLE: &str = "ไม่มีสิทธิ์เข้าถึง";
pub const FORBIDDEN: &str = "บัญชีของคุณไม่มีสิทธิ์ดูข้อมูลของหน่วยงานนี้ หากจำเป็นต้องใช้ ให้ยื่นแบบคำร้องขอเข้าถึงข้อมูลสารสนเทศต่อผู้ดูแลระบบ";
pub const FAILED: &str = "จัดทำหน้านี้ไม่สำเร็จ กรุณาลองใหม่ หรือแจ้งผู้ดูแลระบบ";
pub const EMPTY: &str = "ยังไม่มีข้อมูลในคลัง: ให้นำเข้าข้อมูลด้วย khlang ingest ก่อน";

// The app's frame: sign-in, navigation, the quality page and saved queries (lib.rs).
pub const SIGN_IN: &str = "เข้าสู่ระบบ";
pub const SIGN_OUT: &str = "ออกจากระบบ";
pub const USER_NAME: &str = "ชื่อผู้ใช้";
pub const PASSWORD: &str = "รหัสผ่าน";
pub const LOCKED_OUT: &str = "ใส่รหัสผ่านผิดหลายครั้ง บัญชีถูกระงับชั่วคราว 15 นาที";
pub const WRONG_PASSWORD: &str = "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง";
pub const NO_SUCH_FILE: &str = "ไม่มีไฟล์นี้";
pub const NAV_HOME: &str = "หน้าแรก";
pub const NAV_PUBLIC: &str = "ข้อมูลเผยแพร่";
pub const NAV_SAVED: &str = "คำสั่งที่บันทึกไว้";
pub const NAV_QUALITY: &str = "คุณภาพข้อมูล";
pub const NAV_CALENDAR: &str = "ปฏิทินการรายงาน";
pub const NAV_APPROVALS: &str = "อนุมัติเผยแพร่";
pub const NAV_INGEST: &str = "การนำเข้าข้อมูล";
pub const NAV_USAGE: &str = "สถิติการใช้งาน";
pub const NAV_USAGE_REPORT: &str = "รายงานการใช้งานประจำปี";
pub const NAV_ACCESS_REQUESTS: &str = "คำร้องขอเข้าถึงข้อมูล";
pub const NAV_REQUEST_ACCESS: &str = "ขอเข้าถึงข้อมูล";
pub const QUALITY_TITLE: &str = "รายงานคุณภาพข้อมูลนักเรียน";
pub const QUALITY_NO_STUDENTS: &str = "ยังไม่มีข้อมูลนักเรียนในคลัง";
pub const QUALITY_FORBIDDEN: &str = "คุณไม่มีสิทธิ์ดูรายงานของหน่วยงานนี้";
pub const QUALITY_NOT_FOUND: &str = "ไม่พบข้อมูลที่ขอ";
pub const QUALITY_FAILED: &str = "จัดทำรายงานไม่สำเร็จ";
pub const SAVED_NAME: &str = "ชื่อ";
pub const SAVED_BY: &str = "ผู้บันทึก";
pub const SAVED_SHARED: &str = "แบ่งปัน";
pub const SAVED_DOWNLOAD: &str = "ดาวน์โหลด";
pub const SAVED_AREA_WIDE: &str = "ทั้งเขต";
pub const SAVED_PRIVATE: &str = "ส่วนตัว";
pub const SAVED_NONE: &str = "ยังไม่มีคำสั่งที่บันทึกไว้: บันทึกได้ทาง";
pub const SAVED_NO_SUCH: &str = "ไม่พบคำสั่งที่บันทึกไว้ชื่อนี้";
pub const NO_ROWS: &str = "ไม่มีแถว";

// Headline figures.
pub const F_STUDENTS: &str = "นักเรียน";
pub const F_SCHOOLS: &str = "โรงเรียน";
pub const F_CLASSROOMS: &str = "ห้องเรียน";
pub const F_STUDENTS_PER_CLASSROOM: &str = "นักเรียนต่อห้อง";
pub const F_DROPOUTS: &str = "นักเรียนออกกลางคัน";
pub const F_DROPOUT_RATE: &str = "อัตราการออกกลางคัน";
pub const F_DISADVANTAGED: &str = "นักเรียนด้อยโอกาส";
pub const F_DISABLED: &str = "นักเรียนพิการ";
pub const F_ALLOCATED: &str = "งบประมาณที่ได้รับจัดสรร";
pub const F_DISBURSED: &str = "เบิกจ่ายแล้ว";
pub const F_DISBURSEMENT_RATE: &str = "ร้อยละการเบิกจ่าย";
pub const F_PER_CAPITA_DUE: &str = "เงินอุดหนุนรายหัวที่ควรได้รับ";
pub const F_PER_CAPITA_ALLOCATED: &str = "เงินอุดหนุนรายหัวที่ได้รับจัดสรร";
pub const F_SPENDING_PER_STUDENT: &str = "ค่าใช้จ่ายต่อนักเรียน";
pub const F_STAFF: &str = "บุคลากรทั้งหมด";
pub const F_TEACHERS: &str = "ครู";
pub const F_REQUIRED: &str = "ครูตามเกณฑ์";
pub const F_SHORTAGE: &str = "ครูขาดเกณฑ์";
pub const F_SURPLUS: &str = "ครูเกินเกณฑ์";
pub const F_SCHOOLS_SHORT: &str = "โรงเรียนที่ขาดครู";
pub const F_STUDENTS_PER_TEACHER: &str = "นักเรียนต่อครู";
pub const F_RETIREMENTS: &str = "เกษียณใน 5 ปีงบประมาณ";
pub const F_SMALL: &str = "โรงเรียนขนาดเล็ก";
pub const F_SMALL_SHARE: &str = "สัดส่วนโรงเรียนขนาดเล็ก";
pub const F_REPAIR: &str = "อาคารที่ต้องซ่อมแซม";
pub const F_DLTV: &str = "อุปกรณ์ DLTV ใช้งานได้";
pub const F_OFFLINE: &str = "โรงเรียนที่ไม่มีอินเทอร์เน็ต";

// Units.
pub const U_PEOPLE: &str = "คน";
pub const U_SCHOOLS: &str = "แห่ง";
pub const U_ROOMS: &str = "ห้อง";
pub const U_BAHT: &str = "บาท";
pub const U_POSTS: &str = "อัตรา";
pub const U_BUILDINGS: &str = "หลัง";

// Table and chart titles.
pub const T_STUDENTS_BY_LEVEL: &str = "นักเรียนจำแนกตามระดับชั้นและเพศ";
pub const T_PYRAMID: &str = "นักเรียนจำแนกตามชั้นและเพศ";
pub const T_TREND: &str = "จำนวนนักเรียนย้อนหลัง 5 ปีการศึกษา";
pub const T_TESTS: &str = "ผลการทดสอบระดับชาติ ปีการศึกษา";
pub const T_BUDGET_BY_CATEGORY: &str = "งบประมาณจำแนกตามประเภท ปีงบประมาณ";
pub const T_DISBURSEMENT: &str = "ความก้าวหน้าการเบิกจ่ายรายไตรมาสเทียบเป้าหมาย ปีงบประมาณ";
pub const T_PER_CAPITA: &str = "เงินอุดหนุนรายหัวที่ควรได้รับ ปีงบประมาณ";
pub const T_STAFF_BY_POSITION: &str = "บุคลากรจำแนกตามตำแหน่งและเพศ";
pub const T_STAFF_BY_STANDING: &str = "ผู้บริหารและครูจำแนกตามวิทยฐานะ";
pub const T_RETIREMENTS: &str = "ผู้เกษียณอายุราชการ ปีงบประมาณ";
pub const T_SUBJECTS: &str = "ครูจำแนกตามวิชาเอก";
pub const T_STAFFING: &str = "อัตรากำลังครูรายโรงเรียน (ขาด/เกินเกณฑ์)";
pub const T_SIZE_BANDS: &str = "โรงเรียนจำแนกตามขนาด";
pub const T_BY_DISTRICT: &str = "โรงเรียนจำแนกตามอำเภอและขนาด";
pub const T_SMALL_SCHOOLS: &str = "รายชื่อโรงเรียนขนาดเล็ก";
pub const T_BUILDINGS: &str = "อาคารจำแนกตามสภาพ";
pub const T_DLTV: &str = "อุปกรณ์การศึกษาทางไกลผ่านดาวเทียม (DLTV)";
pub const T_INTERNET: &str = "การเชื่อมต่ออินเทอร์เน็ตของโรงเรียน";

// Column headers.
pub const C_LEVEL: &str = "ระดับชั้น";
pub const C_GRADE: &str = "ชั้น";
pub const C_MALE: &str = "ชาย";
pub const C_FEMALE: &str = "หญิง";
pub const C_TOTAL: &str = "รวม";
pub const C_SNAPSHOT: &str = "ข้อมูล ณ วันที่";
pub const C_STUDENTS: &str = F_STUDENTS;
pub const C_CLASSROOMS: &str = F_CLASSROOMS;
pub const C_TEACHERS: &str = F_TEACHERS;
pub const C_TEST: &str = "การทดสอบ";
pub const C_SUBJECT: &str = "วิชา";
pub const C_EXAMINEES: &str = "ผู้เข้าสอบ";
pub const C_MEAN: &str = "คะแนนเฉลี่ย";
pub const C_SCHOOL_MEAN: &str = "เฉลี่ยโรงเรียน";
pub const C_AREA_MEAN: &str = "เฉลี่ยเขตพื้นที่";
pub const C_NATION_MEAN: &str = "เฉลี่ยประเทศ";
pub const C_DIFF_NATION: &str = "ต่างจากประเทศ";
pub const C_CATEGORY: &str = "ประเภทงบประมาณ";
pub const C_ALLOCATED: &str = "จัดสรร (บาท)";
pub const C_DISBURSED: &str = "เบิกจ่าย (บาท)";
pub const C_RATE: &str = "ร้อยละเบิกจ่าย";
pub const C_QUARTER: &str = QUARTER;
pub const C_CUMULATIVE_RATE: &str = "เบิกจ่ายสะสม (ร้อยละ)";
pub const C_TARGET: &str = "เป้าหมายสะสม (ร้อยละ)";
pub const C_DISBURSED_IN_QUARTER: &str = "เบิกจ่ายในไตรมาส (บาท)";
pub const C_CUMULATIVE: &str = "เบิกจ่ายสะสม (บาท)";
pub const C_RATE_BAHT: &str = "อัตราต่อหัว (บาท/ปี)";
pub const C_STUDENTS_TERM2: &str = "นักเรียน 10 มิ.ย. ปีก่อน (ภาคเรียนที่ 2)";
pub const C_STUDENTS_TERM1: &str = "นักเรียน 10 มิ.ย. (ภาคเรียนที่ 1)";
pub const C_DUE: &str = "ควรได้รับ (บาท)";
pub const C_POSITION: &str = "ตำแหน่ง";
pub const C_STANDING: &str = "วิทยฐานะ";
pub const C_FISCAL_YEAR: &str = FISCAL_YEAR;
pub const C_DIRECTORS: &str = "ผู้บริหาร";
pub const C_OTHER_STAFF: &str = "บุคลากรอื่น";
pub const C_MAJOR: &str = "วิชาเอก";
pub const C_SCHOOL_CODE: &str = "รหัสโรงเรียน";
pub const C_SCHOOL: &str = F_SCHOOLS;
pub const C_REQUIRED: &str = F_REQUIRED;
pub const C_GAP: &str = "ขาด(-)/เกิน(+)";
pub const C_SIZE: &str = "ขนาดโรงเรียน";
pub const C_SCHOOLS: &str = F_SCHOOLS;
pub const C_DISTRICT: &str = "อำเภอ";
pub const C_CONDITION: &str = "สภาพอาคาร";
pub const C_BUILDINGS: &str = "อาคาร";
pub const C_AREA_M2: &str = "พื้นที่ (ตร.ม.)";
pub const C_ITEM: &str = "อุปกรณ์";
pub const C_INSTALLED: &str = "ติดตั้ง";
pub const C_WORKING: &str = "ใช้งานได้";
pub const C_WORKING_RATE: &str = "ร้อยละใช้งานได้";
pub const C_CONNECTION: &str = "ประเภทการเชื่อมต่อ";

// Indicator definitions (footnotes).
pub const N_STUDENTS: &str = "นักเรียน: นักเรียนสถานะกำลังศึกษาในรอบข้อมูลที่เลือก (DMC)";
pub const N_STUDENTS_PER_CLASSROOM: &str = "นักเรียนต่อห้อง = นักเรียน ÷ ห้องเรียน";
pub const N_DROPOUT: &str = "อัตราการออกกลางคัน = นักเรียนสถานะออกกลางคัน ÷ นักเรียนทุกสถานะในรอบข้อมูล × 100";
pub const N_DISADVANTAGED: &str = "สัดส่วนนักเรียนด้อยโอกาสและนักเรียนพิการ คิดจากนักเรียนสถานะกำลังศึกษา";
pub const N_TESTS: &str = "คะแนนเฉลี่ยถ่วงน้ำหนักด้วยจำนวนผู้เข้าสอบ ค่าเฉลี่ยเขตพื้นที่และประเทศจากข้อมูลเผยแพร่ (กลุ่มที่มีผู้เข้าสอบน้อยกว่า 5 คนไม่นำมาเผยแพร่)";
pub const N_DISBURSEMENT: &str = "ร้อยละการเบิกจ่าย = เบิกจ่าย ÷ งบประมาณที่ได้รับจัดสรร × 100 (ไตรมาส 1 = ต.ค.–ธ.ค.)";
pub const N_TARGET: &str = "เป้าหมายการเบิกจ่ายสะสมรายไตรมาสตามมติคณะรัฐมนตรี (ข้อมูลอ้างอิงของระบบ ปรับได้รายปี)";
pub const N_PER_CAPITA: &str = "เงินอุดหนุนรายหัวที่ควรได้รับ = อัตราต่อหัว × (นักเรียน 10 มิ.ย. ปีการศึกษาก่อน + นักเรียน 10 มิ.ย. ปีการศึกษาเดียวกับปีงบประมาณ) ÷ 2 จ่ายครึ่งปีต่อภาคเรียน";
pub const N_SPENDING: &str = "ค่าใช้จ่ายต่อนักเรียน = เบิกจ่ายทั้งปีงบประมาณ ÷ นักเรียนในรอบข้อมูลที่เลือก";
pub const N_REQUIRED: &str = "ครูตามเกณฑ์ ก.ค.ศ.: โรงเรียนประถมขนาดเล็ก (ไม่เกิน 120 คน) ครู 1 คนต่อนักเรียน 20 คน ปัดขึ้น โรงเรียนอื่นใช้อัตราส่วนตามระดับชั้น";
pub const N_GAP: &str = "ขาด/เกินเกณฑ์ = ครู (ครูและครูผู้ช่วย) − ครูตามเกณฑ์ ค่าติดลบคือขาดครู";
pub const N_RETIREMENT: &str = "เกษียณอายุราชการ 30 กันยายนของปีงบประมาณที่อายุครบ 60 ปี";
pub const N_STUDENTS_PER_TEACHER: &str = "นักเรียนต่อครู = นักเรียน ÷ ครู (ครูและครูผู้ช่วย)";
pub const N_SIZE: &str = "ขนาดโรงเรียนตามจำนวนนักเรียน 10 มิ.ย.: สพป. เล็ก 1–120 กลาง 121–600 ใหญ่ 601–1,500 ใหญ่พิเศษ 1,501 ขึ้นไป; สพม. เล็ก 1–499 กลาง 500–1,499 ใหญ่ 1,500–2,499 ใหญ่พิเศษ 2,500 ขึ้นไป";
pub const N_REPAIR: &str = "อาคารที่ต้องซ่อมแซม = อาคารสภาพต้องซ่อมแซมและชำรุดทรุดโทรม (B-OBEC)";
pub const N_DLTV: &str = "ร้อยละอุปกรณ์ DLTV ใช้งานได้ = ใช้งานได้ ÷ ติดตั้ง × 100";

pub const POSITIONS: [&str; 7] = ["director", "deputy_director", "teacher", "assistant_teacher", "contract_teacher", "government_employee", "support_staff"];
pub const STANDINGS: [&str; 5] = ["none", "practitioner", "senior_practitioner", "expert", "senior_expert"];
pub const BANDS: [&str; 4] = ["small", "medium", "large", "extra_large"];
pub const CONDITIONS: [&str; 3] = ["good", "needs_repair", "dilapidated"];
pub const INTERNET: [&str; 4] = ["fiber", "4g", "satellite", "none"];

pub fn level(code: &str) -> &str {
    match code {
        "pre_primary" => "ก่อนประถมศึกษา",
        "primary" => "ประถมศึกษา",
        "lower_secondary" => "มัธยมศึกษาตอนต้น",
        "upper_secondary" => "มัธยมศึกษาตอนปลาย",
        other => other,
    }
}

pub fn test_name(code: &str) -> &str {
    match code {
        "ONET_P6" => "O-NET ป.6",
        "ONET_M3" => "O-NET ม.3",
        "ONET_M6" => "O-NET ม.6",
        "NT_P3" => "NT ป.3",
        "RT_P1" => "RT ป.1",
        other => other,
    }
}

pub fn subject(code: &str) -> &str {
    match code {
        "thai" => "ภาษาไทย",
        "mathematics" => "คณิตศาสตร์",
        "science" => "วิทยาศาสตร์",
        "english" => "ภาษาอังกฤษ",
        "social" | "social_studies" => "สังคมศึกษา",
        "reading" => "การอ่านออกเสียง",
        "writing" => "การอ่านรู้เรื่อง",
        other => other,
    }
}

pub fn category(code: &str) -> &str {
    match code {
        "per_capita_teaching" => "ค่าจัดการเรียนการสอน (รายหัว)",
        "textbooks" => "หนังสือเรียน",
        "learning_supplies" => "อุปกรณ์การเรียน",
        "uniforms" => "เครื่องแบบนักเรียน",
        "student_activities" => "กิจกรรมพัฒนาคุณภาพผู้เรียน",
        "investment_construction" => "งบลงทุน สิ่งก่อสร้าง",
        "investment_equipment" => "งบลงทุน ครุภัณฑ์",
        "operating" => "งบดำเนินงาน",
        other => other,
    }
}

pub fn position(code: &str) -> &str {
    match code {
        "director" => "ผู้อำนวยการ",
        "deputy_director" => "รองผู้อำนวยการ",
        "teacher" => "ครู",
        "assistant_teacher" => "ครูผู้ช่วย",
        "government_employee" => "พนักงานราชการ",
        "contract_teacher" => "ครูอัตราจ้าง",
        "support_staff" => "บุคลากรสนับสนุน",
        other => other,
    }
}

pub fn standing(code: &str) -> &str {
    match code {
        "none" => "ไม่มีวิทยฐานะ",
        "practitioner" => "ชำนาญการ",
        "senior_practitioner" => "ชำนาญการพิเศษ",
        "expert" => "เชี่ยวชาญ",
        "senior_expert" => "เชี่ยวชาญพิเศษ",
        other => other,
    }
}

pub fn band(code: &str) -> &str {
    match code {
        "small" => "ขนาดเล็ก",
        "medium" => "ขนาดกลาง",
        "large" => "ขนาดใหญ่",
        "extra_large" => "ขนาดใหญ่พิเศษ",
        other => other,
    }
}

pub fn condition(code: &str) -> &str {
    match code {
        "good" => "ดี",
        "needs_repair" => "ต้องซ่อมแซม",
        "dilapidated" => "ชำรุดทรุดโทรม",
        other => other,
    }
}

pub fn item(code: &str) -> &str {
    match code {
        "dish" => "จานรับสัญญาณ",
        "receiver" => "เครื่องรับสัญญาณ",
        "tv" => "โทรทัศน์",
        other => other,
    }
}

pub fn internet(code: &str) -> &str {
    match code {
        "fiber" => "ไฟเบอร์ออปติก",
        "4g" => "4G",
        "satellite" => "ดาวเทียม",
        "none" => "ไม่มี",
        other => other,
    }
}

/// The submission statuses of `submission_status.status`.
pub const SUBMISSION_STATUSES: [&str; 3] = ["ok", "not_submitted", "students_dropped"];

/// A school's submission status in Thai: one wording on every page, sheet and report.
pub fn submission_status(status: &str) -> &'static str {
    match status {
        "not_submitted" => "ไม่ส่งข้อมูล",
        "students_dropped" => "นักเรียนลดลงเกินร้อยละ 20",
        _ => "ส่งแล้ว",
    }
}

/// A role as Thai staff call it.
pub fn role(r: khlang_query::Role) -> &'static str {
    match r {
        khlang_query::Role::Admin => "ผู้ดูแลระบบ",
        khlang_query::Role::Analyst => "นักวิเคราะห์",
        khlang_query::Role::Director => "ผู้บริหารเขตพื้นที่",
        khlang_query::Role::School => "โรงเรียน",
        khlang_query::Role::Public => "ประชาชน",
    }
}
