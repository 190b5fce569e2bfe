// What DBeaver and Metabase do through the PostgreSQL JDBC driver (pgjdbc), run against Khlang:
// metadata calls, a server-prepared statement, fetch in batches, a query timeout (a cancel request),
// and the catalog queries both tools send on connect and on "sync", with their bound parameters.
// Prints one "key<TAB>value" line per check; exits non-zero on the first failure.
//
// Run: java -cp /usr/share/java/postgresql.jar:DIR JdbcCheck URL USER PASSWORD SCHOOL_CODE [first-row]

import java.sql.*;
import java.util.*;

public class JdbcCheck {
    static void out(String key, Object value) {
        System.out.println(key + "\t" + value);
    }

    static void fail(String why) {
        System.out.println("FAILED\t" + why);
        System.exit(1);
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(name));
        rs.close();
        return out;
    }

    static int count(ResultSet rs) throws SQLException {
        int n = 0;
        while (rs.next()) n++;
        rs.close();
        return n;
    }

    // DBeaver 25 (PostgreSQL driver): on connect and when a schema, a table and its columns are opened.
    static final String[] DBEAVER = {
        "SET extra_float_digits = 3",
        "SET application_name = 'DBeaver 25.1.5 - Main <khlang>'",
        "SELECT current_schema(),session_user",
        "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
        "SHOW search_path",
        "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=?",
        "SELECT * FROM pg_catalog.pg_settings where name=?",
        "SELECT version()",
        "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1",
        "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1",
        "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
        "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass WHERE c.relnamespace=? AND c.relkind not in ('i','I','c')",
        "SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid) LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum) LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid) WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=? ORDER BY a.attnum",
        "SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid WHERE  i.indrelid=? ORDER BY tabrelname, c.relname",
        "SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass WHERE c.conrelid=? ORDER BY c.oid",
    };

    // Metabase 0.55 (postgres driver): on connect, and the "sync" of tables and fields.
    static final String[] METABASE = {
        "SET extra_float_digits = 2",
        "SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'",
        "SHOW TRANSACTION ISOLATION LEVEL",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
        "SELECT nspname AS \"TABLE_SCHEM\", current_database() AS \"TABLE_CATALOG\" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY \"TABLE_SCHEM\"",
        "with table_privileges as ( select NULL as role, t.schemaname as schema, t.objectname as table, pg_catalog.has_table_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'select') as select from ( select schemaname, tablename as objectname from pg_catalog.pg_tables union select schemaname, viewname as objectname from pg_catalog.pg_views ) t where t.schemaname !~ '^pg_' and t.schemaname <> 'information_schema' and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage') ) select t.* from table_privileges t",
        "SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE \"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS \"type\", \"d\".\"description\" AS \"description\", \"stat\".\"n_live_tup\" AS \"estimated_row_count\" FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = \"d\".\"objoid\") AND (\"d\".\"objsubid\" = '0') AND (\"d\".\"classoid\" = 'pg_class'::regclass) LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON (\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = \"stat\".\"relname\") WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND (\"n\".\"nspname\" !~ '^pg_') AND (\"n\".\"nspname\" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN (?)) ORDER BY \"type\" ASC, \"schema\" ASC, \"name\" ASC",
        "SELECT c.column_name AS name, c.udt_name AS \"database-type\", c.ordinal_position - 1 AS \"database-position\", c.table_schema AS \"table-schema\", c.table_name AS \"table-name\", pk.column_name IS NOT NULL AS \"pk?\", ((column_default IS NULL) OR (LOWER(column_default) = 'null')) AND (is_nullable = 'NO') AS \"database-required\" FROM information_schema.columns AS c LEFT JOIN (SELECT tc.table_schema, tc.table_name, kc.column_name FROM information_schema.table_constraints AS tc INNER JOIN information_schema.key_column_usage AS kc ON (tc.constraint_name = kc.constraint_name) AND (tc.table_schema = kc.table_schema) AND (tc.table_name = kc.table_name) WHERE tc.constraint_type = 'PRIMARY KEY') AS pk ON (c.table_schema = pk.table_schema) AND (c.table_name = pk.table_name) AND (c.column_name = pk.column_name) WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (c.table_schema IN (?)) ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC",
        "SELECT fk_ns.nspname AS \"fk-table-schema\", fk_table.relname AS \"fk-table-name\", fk_column.attname AS \"fk-column-name\", pk_ns.nspname AS \"pk-table-schema\", pk_table.relname AS \"pk-table-name\", pk_column.attname AS \"pk-column-name\" FROM pg_constraint c JOIN pg_class fk_table ON c.conrelid = fk_table.oid JOIN pg_namespace fk_ns ON c.connamespace = fk_ns.oid JOIN pg_attribute fk_column ON c.conrelid = fk_column.attrelid JOIN pg_class pk_table ON c.confrelid = pk_table.oid JOIN pg_namespace pk_ns ON pk_table.relnamespace = pk_ns.oid JOIN pg_attribute pk_column ON c.confrelid = pk_column.attrelid WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND c.contype = 'f' AND fk_column.attnum = ANY(c.conkey) AND pk_column.attnum = ANY(c.confkey) AND fk_ns.nspname IN (?) ORDER BY fk_table.oid, fk_column.attnum",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "show timezone",
    };

    static String publicOid, tableOid;

    static int replay(Connection c, String tool, String q) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(q)) {
            int params = ps.getParameterMetaData().getParameterCount();
            for (int i = 1; i <= params; i++) {
                if (q.contains("datname=?")) ps.setString(i, "khlang");
                else if (q.contains("where name=?")) ps.setString(i, "standard_conforming_strings");
                else if (q.contains("relnamespace=?")) ps.setLong(i, Long.parseLong(publicOid));
                else if (q.contains("c.oid=?") || q.contains("indrelid=?") || q.contains("conrelid=?")) ps.setLong(i, Long.parseLong(tableOid));
                else ps.setString(i, "public");
            }
            boolean rows = ps.execute();
            int n = 0;
            if (rows) {
                try (ResultSet rs = ps.getResultSet()) {
                    while (rs.next()) n++;
                }
            }
            return n;
        } catch (SQLException e) {
            fail(tool + " statement failed: " + q + " -> " + e.getMessage());
            return -1;
        }
    }

    public static void main(String[] a) throws Exception {
        String url = a[0], school = a[3];
        Properties p = new Properties();
        p.setProperty("user", a[1]);
        p.setProperty("password", a[2]);
        long t0 = System.nanoTime();
        try (Connection c = DriverManager.getConnection(url, p)) {
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM schools")) {
                rs.next();
                out("first_row_ms", (System.nanoTime() - t0) / 1_000_000);
            }
            if (a.length > 4 && a[4].equals("first-row")) return;
            DatabaseMetaData md = c.getMetaData();
            out("product", md.getDatabaseProductName() + " " + md.getDatabaseProductVersion() + " " + md.getDatabaseMajorVersion());
            out("user", md.getUserName());
            out("schemas", String.join(",", column(md.getSchemas(), "TABLE_SCHEM")));
            List<String> tables = column(md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"}), "TABLE_NAME");
            Collections.sort(tables);
            out("tables", String.join(",", tables));
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "enrollments", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE"));
            }
            out("columns", String.join(",", cols));
            try (ResultSet rs = md.getColumns(null, "public", "enrollments", "school_code")) {
                if (!rs.next()) fail("getColumns gave no school_code");
                out("remarks", rs.getString("REMARKS"));
            }
            out("primary_keys", count(md.getPrimaryKeys(null, "public", "enrollments")));
            out("imported_keys", count(md.getImportedKeys(null, "public", "enrollments")));

            // A prepared statement run 6 times: from the 5th run pgjdbc uses a named server-side
            // statement with binary transfer of the results.
            String sql = "SELECT count(*), min(grade), max(snapshot_date), sum(CASE WHEN disadvantaged THEN 1 ELSE 0 END), max(bmi) FROM enrollments WHERE school_code = ? AND grade_order >= ? AND snapshot_date >= ?";
            String first = null;
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < 6; i++) {
                    ps.setString(1, school);
                    ps.setInt(2, 1);
                    ps.setDate(3, java.sql.Date.valueOf("2000-01-01"));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        String row = rs.getLong(1) + "," + rs.getString(2) + "," + rs.getDate(3) + "," + rs.getLong(4) + "," + rs.getDouble(5);
                        if (first == null) first = row;
                        else if (!row.equals(first)) fail("run " + (i + 1) + " of the prepared statement gave " + row + ", the first gave " + first);
                    }
                }
            }
            out("prepared", first);
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM enrollments WHERE CAST(snapshot_date AS TIMESTAMP) >= ?")) {
                ps.setTimestamp(1, java.sql.Timestamp.valueOf("2000-01-01 00:00:00"));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    out("timestamp_param", rs.getLong(1));
                }
            }
            // Fetch in batches of 100 (a portal suspended and resumed), autocommit off.
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setFetchSize(100);
                try (ResultSet rs = st.executeQuery("SELECT value, CAST(value AS VARCHAR) AS t FROM generate_series(1, 12345)")) {
                    out("fetched", count(rs));
                }
            }
            c.commit();
            c.setAutoCommit(true);

            // setQueryTimeout: pgjdbc sends a cancel request after 1 s.
            try (Statement st = c.createStatement()) {
                st.setQueryTimeout(1);
                long t1 = System.nanoTime();
                try {
                    st.executeQuery("SELECT sum(value) FROM generate_series(1, 50000000000)");
                    fail("the long query was not cancelled");
                } catch (SQLException e) {
                    out("timeout_state", e.getSQLState());
                    out("timeout_ms", (System.nanoTime() - t1) / 1_000_000);
                }
            }
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM schools")) {
                rs.next();
                out("after_timeout", rs.getLong(1));
            }

            try (ResultSet rs = c.createStatement().executeQuery("SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'")) {
                rs.next();
                publicOid = rs.getString(1);
            }
            try (ResultSet rs = c.createStatement().executeQuery("SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'enrollments'")) {
                if (!rs.next()) fail("pg_class has no enrollments");
                tableOid = rs.getString(1);
            }
            int n = 0;
            for (String q : DBEAVER) n += replay(c, "DBeaver", q);
            out("dbeaver_rows", n);
            n = 0;
            int tablesRow = 0;
            for (String q : METABASE) {
                int r = replay(c, "Metabase", q);
                if (q.contains("estimated_row_count")) tablesRow = r;
                n += r;
            }
            out("metabase_rows", n);
            out("metabase_tables", tablesRow);
        }
        out("ok", "done");
    }
}
