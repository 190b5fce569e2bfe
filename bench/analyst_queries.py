"""The analyst suite: realistic queries over national-scale data, shared by bench/analyst.py,
bench/cluster.py and the cluster test (which needs them without the benchmarks' imports)."""

# Latest snapshot, and the one before, as scalar subqueries both engines run.
LATEST = "(SELECT max(snapshot_date) FROM school_snapshot_summary)"
FIRST = "(SELECT min(snapshot_date) FROM school_snapshot_summary)"

QUERIES = {
    "students by area, grade, sex": f"""
        SELECT area_code, grade, sex, count(*) AS students FROM enrollments
        WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code, grade, sex ORDER BY area_code, grade, sex""",
    "students by level per snapshot (trend)": """
        SELECT snapshot_date, level, count(*) AS students FROM enrollments WHERE status = 'studying'
        GROUP BY snapshot_date, level ORDER BY snapshot_date, level""",
    "O-NET trend by area (every year held)": """
        SELECT academic_year, test, area_code, subject, round(sum(mean_score * examinees) / sum(examinees), 2) AS mean
        FROM test_results WHERE test LIKE 'ONET%' GROUP BY academic_year, test, area_code, subject ORDER BY academic_year, test, area_code, subject""",
    "teacher gap by area": f"""
        SELECT area_code, sum(teachers) AS teachers, sum(required_teachers) AS required, sum(teacher_gap) AS gap,
               sum(CASE WHEN teacher_gap < 0 THEN 1 ELSE 0 END) AS short_schools
        FROM school_snapshot_summary WHERE snapshot_date = {LATEST} GROUP BY area_code ORDER BY gap""",
    "small schools by area and province": f"""
        SELECT s.province_code, x.area_code, count(*) AS small_schools, sum(x.students) AS students
        FROM school_snapshot_summary x JOIN schools s ON s.school_code = x.school_code
        WHERE x.snapshot_date = {LATEST} AND x.size_band = 'small' GROUP BY s.province_code, x.area_code ORDER BY small_schools DESC""",
    "per-capita subsidy due by area": f"""
        SELECT area_code, sum(CASE level WHEN 'pre_primary' THEN 1700 WHEN 'primary' THEN 1900
                                         WHEN 'lower_secondary' THEN 3500 ELSE 3800 END) AS subsidy_baht
        FROM enrollments WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code ORDER BY area_code""",
    "school vs area vs nation (tests)": """
        WITH s AS (SELECT academic_year, school_code, area_code, subject, sum(mean_score * examinees) / sum(examinees) AS mean, sum(examinees) AS n
                   FROM test_results WHERE academic_year = (SELECT max(academic_year) FROM test_results) GROUP BY academic_year, school_code, area_code, subject)
        SELECT school_code, subject, round(mean, 2) AS school_mean,
               round(sum(mean * n) OVER (PARTITION BY area_code, subject) / sum(n) OVER (PARTITION BY area_code, subject), 2) AS area_mean,
               round(sum(mean * n) OVER (PARTITION BY subject) / sum(n) OVER (PARTITION BY subject), 2) AS nation_mean
        FROM s ORDER BY school_code, subject LIMIT 1000""",
    "students per teacher (enrollments x personnel)": f"""
        WITH st AS (SELECT school_code, count(*) AS students FROM enrollments WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY school_code),
             te AS (SELECT school_code, count(*) AS teachers FROM personnel WHERE position = 'teacher' GROUP BY school_code)
        SELECT st.school_code, st.students, te.teachers, round(CAST(st.students AS DOUBLE) / te.teachers, 1) AS ratio
        FROM st JOIN te ON te.school_code = st.school_code ORDER BY ratio DESC LIMIT 100""",
    "disbursement by quarter and category": """
        SELECT fiscal_year, fiscal_quarter, category, sum(allocated_baht) AS allocated, sum(disbursed_baht) AS disbursed
        FROM budget_lines GROUP BY fiscal_year, fiscal_quarter, category ORDER BY fiscal_year, fiscal_quarter, category""",
    "baht per student by area (budget x enrollments)": f"""
        WITH b AS (SELECT area_code, sum(allocated_baht) AS baht FROM budget_lines WHERE fiscal_year = (SELECT max(fiscal_year) FROM budget_lines) GROUP BY area_code),
             e AS (SELECT area_code, count(*) AS students FROM enrollments WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code)
        SELECT e.area_code, e.students, b.baht, round(CAST(b.baht AS DOUBLE) / e.students, 2) AS per_student FROM e JOIN b ON b.area_code = e.area_code ORDER BY per_student DESC""",
    "retirements in the next five fiscal years": """
        SELECT area_code, retirement_fiscal_year, count(*) AS retiring FROM personnel
        WHERE retirement_fiscal_year BETWEEN (SELECT max(fiscal_year) FROM budget_lines) AND (SELECT max(fiscal_year) FROM budget_lines) + 4
        GROUP BY area_code, retirement_fiscal_year ORDER BY area_code, retirement_fiscal_year""",
    "disadvantaged share by area": f"""
        SELECT area_code, round(100.0 * sum(CASE WHEN disadvantaged THEN 1 ELSE 0 END) / count(*), 2) AS pct
        FROM enrollments WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY area_code ORDER BY pct DESC""",
    "overage students by grade": f"""
        SELECT grade, count(*) AS students, sum(CASE WHEN age_years > grade_order + 4 THEN 1 ELSE 0 END) AS overage
        FROM enrollments WHERE snapshot_date = {LATEST} AND status = 'studying' GROUP BY grade ORDER BY grade""",
    "students who left between snapshots": f"""
        SELECT a.area_code, count(*) AS left_school FROM
          (SELECT student_key, area_code FROM enrollments WHERE snapshot_date = {FIRST} AND status = 'studying') a
          LEFT JOIN (SELECT student_key FROM enrollments WHERE snapshot_date = {LATEST}) b ON b.student_key = a.student_key
        WHERE b.student_key IS NULL GROUP BY a.area_code ORDER BY left_school DESC""",
    "DLTV equipment working by area": """
        SELECT s.area_code, sum(d.installed) AS installed, sum(d.working) AS working,
               round(100.0 * sum(d.working) / sum(d.installed), 1) AS pct
        FROM dltv_equipment d JOIN schools s ON s.school_code = d.school_code GROUP BY s.area_code ORDER BY pct""",
    "buildings by condition and area": """
        SELECT area_code, condition, count(*) AS buildings, round(sum(area_m2), 0) AS m2 FROM buildings
        GROUP BY area_code, condition ORDER BY area_code, condition""",
    "most crowded schools per area (rank)": f"""
        SELECT * FROM (SELECT area_code, school_code, students_per_teacher,
                              rank() OVER (PARTITION BY area_code ORDER BY students_per_teacher DESC, school_code) AS r
                       FROM school_snapshot_summary WHERE snapshot_date = {LATEST} AND teachers > 0) t
        WHERE r <= 3 ORDER BY area_code, r""",
}
