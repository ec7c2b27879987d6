//! Two pieces of a list's SQL as typed expressions: a row value comparison,
//! which diesel's DSL has no words for, and `COALESCE`, declared as a SQL
//! function. A `sql()` literal would do, but diesel never caches a statement
//! that holds one, so the database parsed and planned every page after a
//! cursor, and every sorted page of one author, anew (bench/results.md).

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Bool;
use diesel::QueryResult;

/// `(column, id) > (key, key_id)`, or `<` when descending: a row value
/// comparison, which both backends answer from the order's index starting at
/// the cursor (an `OR` of two conditions would scan from the start).
#[derive(Debug, Clone)]
pub struct RowAfter<C, I, K, KI> {
    pub column: C,
    pub id: I,
    pub key: K,
    pub key_id: KI,
    pub descending: bool,
}

impl<C, I, K, KI> Expression for RowAfter<C, I, K, KI> {
    type SqlType = Bool;
}

impl<C, I, K, KI, QS> AppearsOnTable<QS> for RowAfter<C, I, K, KI>
where
    C: AppearsOnTable<QS>,
    I: AppearsOnTable<QS>,
    K: AppearsOnTable<QS>,
    KI: AppearsOnTable<QS>,
{
}

impl<C, I, K, KI, QS> SelectableExpression<QS> for RowAfter<C, I, K, KI>
where
    C: SelectableExpression<QS>,
    I: SelectableExpression<QS>,
    K: SelectableExpression<QS>,
    KI: SelectableExpression<QS>,
{
}

impl<C, I, K, KI> ValidGrouping<()> for RowAfter<C, I, K, KI>
where
    C: ValidGrouping<()>,
{
    type IsAggregate = C::IsAggregate;
}

impl<C, I, K, KI, DB> QueryFragment<DB> for RowAfter<C, I, K, KI>
where
    DB: Backend,
    C: QueryFragment<DB>,
    I: QueryFragment<DB>,
    K: QueryFragment<DB>,
    KI: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("((");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(if self.descending { ") < (" } else { ") > (" });
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.key_id.walk_ast(out.reborrow())?;
        out.push_sql("))");
        Ok(())
    }
}

/// The SQL differs with `descending`: no id of the type alone.
impl<C, I, K, KI> QueryId for RowAfter<C, I, K, KI> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

diesel::define_sql_function! {
    /// `COALESCE(x, y)`. Called with a sort column twice, its value (the sort
    /// columns are NOT NULL) as an expression that no index matches, so that
    /// a sort by it cannot choose to walk that column's index (see `ordered`
    /// in src/models/book.rs).
    #[sql_name = "COALESCE"]
    fn coalesce<T: diesel::sql_types::SingleValue>(x: T, y: T) -> T;
}
