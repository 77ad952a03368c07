//! Utility functions: `now()`, `today()`, `timeOfDay()` (one reading of the
//! clock per evaluation, which the environment can fix) and `type()`, the
//! reflection of an item's namespace and name.

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::Items;
use crate::fhirpath::types::type_info;
use crate::fhirpath::value::{Item, SystemValue};
use serde_json::json;
use std::sync::Arc;

pub(super) fn call<'a>(
    func: Func,
    input: &[Item<'a>],
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    Ok(match func {
        Func::Now => vec![Item::Value(SystemValue::DateTime(args.ev.now()))],
        Func::Today => vec![Item::Value(SystemValue::Date(args.ev.now().date_part()))],
        Func::TimeOfDay => vec![Item::Value(SystemValue::Time(args.ev.now().time_part()))],
        _ => input
            .iter()
            .filter_map(type_info)
            .map(|(namespace, name)| Item::Owned {
                value: Arc::new(json!({ "namespace": namespace, "name": name })),
                extension: None,
                type_name: None,
                shape: Default::default(),
            })
            .collect(),
    })
}
