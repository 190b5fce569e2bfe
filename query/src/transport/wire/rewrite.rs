//! PostgreSQL forms that clients' catalog queries use and DataFusion does not plan, said the way
//! DataFusion does. Each rewrite is named by the client that sends it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement,
    Subscript, TableFactor, Value, visit_expressions_mut, visit_relations_mut,
};

/// Aggregate functions: a subquery whose value is one of these already returns one row.
const AGGREGATES: [&str; 12] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "json_agg",
    "jsonb_agg",
];

/// Catalogs that are always empty in Khlang: no column has a default, no table a sequence, key,
/// index or trigger.
const EMPTY_CATALOGS: [&str; 5] = [
    "pg_attrdef",
    "pg_sequence",
    "pg_constraint",
    "pg_index",
    "pg_trigger",
];

fn literal(s: String) -> Expr {
    Expr::Value(Value::SingleQuotedString(s).into())
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn function_name(f: &Function) -> String {
    f.name
        .0
        .last()
        .map(|p| p.to_string().to_lowercase())
        .unwrap_or_default()
}

fn args_of(f: &Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// Whether `e` calls an aggregate function anywhere.
fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Function(f) = x
            && f.over.is_none()
            && AGGREGATES.contains(&function_name(f).as_str())
        {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Whether a relation is one of PostgreSQL's catalogs (`pg_catalog.pg_type`, `pg_attrdef`, …).
fn is_catalog(name: &ObjectName) -> bool {
    catalog_name(name).is_some()
}

/// The catalog a relation names (`pg_type` for `pg_catalog.pg_type` or `pg_type`), if it is one.
fn catalog_name(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_lowercase())
        .collect();
    match parts.as_slice() {
        [schema, table] if schema == "pg_catalog" => Some(table.clone()),
        [table] if table.starts_with("pg_") => Some(table.clone()),
        _ => None,
    }
}

/// What a scalar subquery over catalogs becomes.
enum CatalogSubquery {
    /// Not one, or already planned as it is.
    Unchanged,
    /// Its value aggregated with `max(…)`.
    Aggregated,
    /// It reads from a catalog that is always empty, without aggregating: its value is NULL.
    Null,
}

/// A scalar subquery over catalogs only whose value is not aggregated, such as SQLAlchemy's
/// column reflection `(SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid =
/// attrelid AND adnum = attnum)`: its value as `max(…)`. The catalogs' keys give at most one row,
/// and DataFusion plans a correlated scalar subquery only when it is aggregated.
fn aggregate_catalog_subquery(q: &mut Query) -> CatalogSubquery {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return CatalogSubquery::Unchanged;
    };
    let grouped = !matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || grouped || select.from.is_empty() || select.having.is_some()
    {
        return CatalogSubquery::Unchanged;
    }
    let catalogs_only = select.from.iter().all(|t| {
        std::iter::once(&t.relation)
            .chain(t.joins.iter().map(|j| &j.relation))
            .all(|r| matches!(r, TableFactor::Table { name, args: None, .. } if is_catalog(name)))
    });
    if !catalogs_only {
        return CatalogSubquery::Unchanged;
    }
    // The first relation of the FROM list: an empty one leaves no row whatever it is joined to.
    let from_empty = select.from.iter().any(|t| matches!(&t.relation, TableFactor::Table { name, .. } if catalog_name(name).is_some_and(|n| EMPTY_CATALOGS.contains(&n.as_str()))));
    let value = match select.projection.first_mut() {
        Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => e,
        _ => return CatalogSubquery::Unchanged,
    };
    if has_aggregate(value) {
        return CatalogSubquery::Unchanged;
    }
    if from_empty {
        return CatalogSubquery::Null;
    }
    let inner = std::mem::replace(value, Expr::Value(Value::Null.into()));
    *value = call("max", vec![inner]);
    CatalogSubquery::Aggregated
}

/// NULL in place of `q`, still naming the parameters `q` held: a prepared statement's parameters
/// are numbered, and one that disappeared would shift the types of those after it.
fn null_keeping_placeholders(q: &Query) -> Expr {
    let mut names: Vec<String> = Vec::new();
    let mut q = q.clone();
    let _ = visit_expressions_mut(&mut q, |x| {
        if let Expr::Value(v) = x
            && let Value::Placeholder(p) = &v.value
            && !names.contains(p)
        {
            names.push(p.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    if names.is_empty() {
        return Expr::Value(Value::Null.into());
    }
    parse_expr(&format!(
        "CASE WHEN false THEN json_build_object({}) END",
        names.join(", ")
    ))
    .unwrap_or(Expr::Value(Value::Null.into()))
}

fn parse_expr(sql: &str) -> Option<Expr> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .and_then(|mut p| p.parse_expr())
    .ok()
}

/// The rewritten SQL text of `statements`, when any rewrite applied:
/// - field selection from a composite value, `(f(x)).n` (pgjdbc's `getPrimaryKeys`), as
///   `(f(x))['n']`;
/// - `LIKE … ESCAPE '/'` (SQLAlchemy's schema list) with the backslash DataFusion takes;
/// - `pg_stat_activity` without its schema (pg_catalog is always on PostgreSQL's search path);
/// - unaggregated scalar subqueries over catalogs (SQLAlchemy's `get_columns`) as `max(…)`, or
///   NULL when they read a catalog that is always empty (`pg_attrdef`, `pg_sequence`);
/// - `generate_subscripts(a, d)` (SQLAlchemy's key and index reflection) as
///   `unnest(generate_series(1, cardinality(a)))` for d = 1 (else no subscripts), which runs
///   alongside `unnest(a)` row by row.
pub fn for_datafusion(raw: &str, statements: &[Statement]) -> Option<String> {
    let mut statements = statements.to_vec();
    apply(raw, &mut statements).then(|| {
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Special registers PostgreSQL names a column after: written without parentheses, they name
/// the column `current_user`, `session_user`, …; DataFusion would name it after the function it
/// calls (`session_user()` for both `current_user` and `session_user`, so the two side by side
/// clash).
const REGISTERS: [&str; 6] = ["current_user", "session_user", "user", "current_role", "current_catalog", "current_schema"];

/// The register an unaliased projection item of the client's own text is, if any.
fn register_of(item: &SelectItem) -> Option<&'static str> {
    let word = match item {
        SelectItem::UnnamedExpr(Expr::Function(f)) if matches!(f.args, FunctionArguments::None) => function_name(f),
        SelectItem::UnnamedExpr(Expr::Identifier(i)) if i.quote_style.is_none() => i.value.to_lowercase(),
        _ => return None,
    };
    REGISTERS.into_iter().find(|r| *r == word)
}

/// Aliases the registers of `original`'s SELECT lists in `rewritten`, the same query after the
/// compatibility parser's renames (so the same shape), SELECT by SELECT.
fn name_in(original: &SetExpr, rewritten: &mut SetExpr) -> bool {
    match (original, rewritten) {
        (SetExpr::Select(o), SetExpr::Select(t)) if o.projection.len() == t.projection.len() => {
            let mut changed = false;
            for (oi, ti) in o.projection.iter().zip(t.projection.iter_mut()) {
                if let (Some(name), SelectItem::UnnamedExpr(e)) = (register_of(oi), &*ti) {
                    *ti = SelectItem::ExprWithAlias { expr: e.clone(), alias: Ident::new(name) };
                    changed = true;
                }
            }
            // Subqueries in FROM: their columns are what the outer query refers to by name.
            for (of, tf) in o.from.iter().zip(t.from.iter_mut()) {
                if let (TableFactor::Derived { subquery: oq, .. }, TableFactor::Derived { subquery: tq, .. }) = (&of.relation, &mut tf.relation) {
                    changed |= name_query(oq, tq);
                }
            }
            changed
        }
        (SetExpr::Query(o), SetExpr::Query(t)) => name_query(o, t),
        (SetExpr::SetOperation { left: ol, right: or, .. }, SetExpr::SetOperation { left: tl, right: tr, .. }) => name_in(ol, tl) | name_in(or, tr),
        _ => false,
    }
}

/// [`name_in`] for a whole query: its WITH clauses and its body.
fn name_query(original: &Query, rewritten: &mut Query) -> bool {
    let mut changed = false;
    if let (Some(ow), Some(tw)) = (&original.with, &mut rewritten.with) {
        for (oc, tc) in ow.cte_tables.iter().zip(tw.cte_tables.iter_mut()) {
            changed |= name_query(&oc.query, &mut tc.query);
        }
    }
    changed | name_in(&original.body, &mut rewritten.body)
}

/// Names the columns of special registers as PostgreSQL does, by reading the client's own text
/// (the compatibility parser has already renamed `current_user` to `session_user`).
fn name_registers(raw: &str, statements: &mut [Statement]) -> bool {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let lower = raw.to_ascii_lowercase();
    if !REGISTERS.iter().any(|r| lower.contains(r)) {
        return false;
    }
    let Ok(original) = Parser::parse_sql(&PostgreSqlDialect {}, raw) else { return false };
    if original.len() != statements.len() {
        return false;
    }
    let mut changed = false;
    for (orig, st) in original.iter().zip(statements.iter_mut()) {
        if let (Statement::Query(o), Statement::Query(t)) = (orig, st) {
            changed |= name_query(o, t);
        }
    }
    changed
}

/// Rewrites `statements` (parsed from `raw`) in place as [`for_datafusion`] describes; true if
/// anything changed.
pub fn apply(raw: &str, statements: &mut [Statement]) -> bool {
    let mut changed = name_registers(raw, statements);
    for st in statements.iter_mut() {
        let _ = visit_expressions_mut(st, |e| {
            match e {
                Expr::CompoundFieldAccess { root, access_chain }
                    if !matches!(
                        root.as_ref(),
                        Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                    ) =>
                {
                    for a in access_chain.iter_mut() {
                        if let AccessExpr::Dot(Expr::Identifier(i)) = a {
                            *a = AccessExpr::Subscript(Subscript::Index {
                                index: literal(i.value.clone()),
                            });
                            changed = true;
                        }
                    }
                }
                Expr::Like {
                    pattern,
                    escape_char,
                    ..
                }
                | Expr::ILike {
                    pattern,
                    escape_char,
                    ..
                } => {
                    let escape = escape_char.as_ref().and_then(|v| match &v.value {
                        Value::SingleQuotedString(c) if c.chars().count() == 1 && c != "\\" => {
                            c.chars().next()
                        }
                        _ => None,
                    });
                    if let Some(esc) = escape {
                        *escape_char = None;
                        // The pattern with the client's escape character as a backslash.
                        let converted = std::mem::replace(pattern.as_mut(), literal(String::new()));
                        *pattern.as_mut() = call(
                            "replace",
                            vec![converted, literal(esc.to_string()), literal("\\".into())],
                        );
                        changed = true;
                    }
                }
                // PostgreSQL's `current_role` (a bare word, to sqlparser a column) is the user.
                Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_role") => {
                    *e = call("current_role", vec![]);
                    changed = true;
                }
                Expr::Subquery(q) => match aggregate_catalog_subquery(q) {
                    CatalogSubquery::Unchanged => {}
                    CatalogSubquery::Aggregated => changed = true,
                    CatalogSubquery::Null => {
                        *e = null_keeping_placeholders(q);
                        changed = true;
                    }
                },
                Expr::Function(f) if function_name(f) == "generate_subscripts" => {
                    // Khlang's arrays have one dimension: any other has no subscripts.
                    if let [array, dim] = args_of(f).as_slice()
                        && let Some(series) = parse_expr(&format!(
                            "unnest(generate_series(1, CASE WHEN {dim} = 1 THEN CAST(cardinality({array}) AS BIGINT) ELSE 0 END))"
                        ))
                    {
                        *e = series;
                        changed = true;
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
        let _ = visit_relations_mut(st, |name| {
            if name.0.len() == 1 && name.to_string().eq_ignore_ascii_case("pg_stat_activity") {
                *name = ObjectName(vec![
                    ObjectNamePart::Identifier(Ident::new("pg_catalog")),
                    ObjectNamePart::Identifier(Ident::new("pg_stat_activity")),
                ]);
                changed = true;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    changed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewrite(sql: &str) -> Option<String> {
        for_datafusion(sql, &Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("test SQL parses"))
    }

    #[test]
    fn special_registers_name_their_columns_as_postgresql_does() {
        let out = rewrite("SELECT current_user, session_user, user, current_role, current_user AS me FROM t").expect("named");
        for want in ["current_user AS current_user", "session_user AS session_user", "user AS user", "current_role() AS current_role", "current_user AS me"] {
            assert!(out.contains(want), "{want} not in {out}");
        }
        // In a UNION, each side's list; elsewhere `current_role` is still the user.
        let out = rewrite("SELECT current_user FROM a UNION ALL SELECT name FROM b WHERE owner = current_role").expect("named");
        assert!(out.contains("current_user AS current_user") && out.contains("owner = current_role()"), "{out}");
        assert_eq!(rewrite("SELECT user_name FROM users"), None);
    }

    #[test]
    fn catalog_subqueries_are_aggregated_and_others_are_not() {
        let out = rewrite(
            "SELECT CASE WHEN a.attcollation <> 0 AND (SELECT t.typcollation AS c FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) <> a.attcollation THEN 1 END FROM pg_catalog.pg_attribute a",
        );
        assert!(
            out.as_deref()
                .is_some_and(|s| s
                    .contains("(SELECT max(t.typcollation) AS c FROM pg_catalog.pg_type t WHERE")),
            "{out:?}"
        );
        let out = rewrite(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS e FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) END FROM pg_catalog.pg_attribute a",
        );
        assert_eq!(
            out.as_deref(),
            Some("SELECT CASE WHEN a.atthasdef THEN NULL END FROM pg_catalog.pg_attribute a")
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT count(*) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_catalog.pg_attribute a"
            ),
            None
        );
        let out = rewrite(
            "SELECT CASE WHEN a.attidentity <> '' THEN (SELECT json_build_object('start', s.seqstart) FROM pg_catalog.pg_sequence s WHERE s.seqrelid = a.attrelid) END FROM pg_catalog.pg_attribute a",
        );
        assert_eq!(
            out.as_deref(),
            Some(
                "SELECT CASE WHEN a.attidentity <> '' THEN NULL END FROM pg_catalog.pg_attribute a"
            )
        );
        let out = rewrite(
            "SELECT $1, (SELECT json_build_object($2, s.seqstart) FROM pg_catalog.pg_sequence s WHERE s.seqrelid = $3), $4",
        );
        assert_eq!(
            out.as_deref(),
            Some("SELECT $1, CASE WHEN false THEN json_build_object($2, $3) END, $4")
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT school_name FROM schools s WHERE s.school_code = e.school_code) FROM enrollments e"
            ),
            None
        );
    }

    #[test]
    fn generate_subscripts_runs_beside_unnest() {
        let out = rewrite(
            "SELECT unnest(i.indkey) AS attnum, generate_subscripts(i.indkey, 1) AS ord FROM pg_catalog.pg_index i",
        );
        assert_eq!(
            out.as_deref(),
            Some(
                "SELECT unnest(i.indkey) AS attnum, unnest(generate_series(1, CASE WHEN 1 = 1 THEN CAST(cardinality(i.indkey) AS BIGINT) ELSE 0 END)) AS ord FROM pg_catalog.pg_index i"
            )
        );
    }

    #[test]
    fn like_escape_and_field_selection() {
        assert_eq!(
            rewrite("SELECT 1 WHERE 'a_b' LIKE 'a/_b' ESCAPE '/'").as_deref(),
            Some("SELECT 1 WHERE 'a_b' LIKE replace('a/_b', '/', '\\')")
        );
        assert_eq!(
            rewrite("SELECT (f(x)).n FROM t").as_deref(),
            Some("SELECT (f(x))['n'] FROM t")
        );
        assert_eq!(
            rewrite("SELECT * FROM pg_stat_activity").as_deref(),
            Some("SELECT * FROM pg_catalog.pg_stat_activity")
        );
        assert_eq!(rewrite("SELECT 1"), None);
    }
}
