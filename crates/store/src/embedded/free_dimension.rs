//! `free_dimension(dimensions, name)`: the value of one free dimension of a
//! fact or raw event, from the JSON object of text values its `dimensions`
//! column holds (`NULL` when the row has no such dimension). The query
//! model's DataFusion dialect asks for it (`group_by=dim:NAME`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
struct FreeDimension {
    signature: Signature,
}

/// The function, to register on a session.
pub(super) fn free_dimension() -> ScalarUDF {
    ScalarUDF::from(FreeDimension {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

impl ScalarUDFImpl for FreeDimension {
    fn name(&self) -> &str {
        "free_dimension"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [dimensions, name] = args.args.as_slice() else {
            return exec_err!("free_dimension takes (dimensions, name)");
        };
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) = name else {
            return exec_err!("free_dimension's name must be a text literal");
        };
        let values = match dimensions {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(args.number_rows)?,
        };
        let values = cast(&values, &DataType::Utf8)?;
        let Some(texts) = values.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("free_dimension's dimensions must be text");
        };
        let out: StringArray = (0..texts.len())
            .map(|i| {
                if texts.is_null(i) {
                    return None;
                }
                // Written by the store from a map of text values; anything else names nothing.
                serde_json::from_str::<BTreeMap<String, String>>(texts.value(i)).ok()?.remove(name.as_str())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn a_dimension_is_read_from_its_row_and_absent_ones_are_null() {
        let ctx = SessionContext::new();
        ctx.register_udf(free_dimension());
        let rows = ctx
            .sql(r#"SELECT free_dimension(d, 'plan') AS plan FROM (VALUES ('{"plan":"gold","tier":"2"}'), ('{"tier":"1"}'), (NULL)) AS t(d)"#)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let plan = rows[0].column(0).as_any().downcast_ref::<StringArray>().unwrap().clone();
        assert_eq!(plan.iter().collect::<Vec<_>>(), [Some("gold"), None, None]);
    }
}
