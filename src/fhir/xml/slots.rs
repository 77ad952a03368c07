//! The properties of one JSON object while its XML element is being read: the
//! occurrences of each element, kept by definition index so that the object is
//! assembled in definition order, with primitive values and their `_name`
//! companions aligned (`null` where one side is missing).

use serde_json::{Map, Value};

/// One occurrence of an element: its JSON value (for a primitive, the value if
/// it has one) and, for a primitive, its `_` companion (`id`, `extension`).
pub(crate) type Occurrence = (Option<Value>, Option<Map<String, Value>>);

/// The occurrences of one element.
struct Slot {
    /// Index of the element in its type's definition.
    index: usize,
    /// The JSON property name (`valueQuantity` for a choice).
    name: String,
    array: bool,
    primitive: bool,
    items: Vec<Occurrence>,
}

/// The elements read so far below one element.
#[derive(Default)]
pub(crate) struct Slots {
    list: Vec<Slot>,
}

impl Slots {
    /// How many occurrences of the element at `index` were read.
    pub(crate) fn count(&self, index: usize) -> usize {
        self.list
            .iter()
            .find(|s| s.index == index)
            .map_or(0, |s| s.items.len())
    }

    /// Adds an occurrence (callers check cardinality first).
    pub(crate) fn push(
        &mut self,
        index: usize,
        name: &str,
        array: bool,
        primitive: bool,
        value: Option<Value>,
        ext: Option<Map<String, Value>>,
    ) {
        match self.list.iter_mut().find(|s| s.index == index) {
            Some(slot) => slot.items.push((value, ext)),
            None => self.list.push(Slot {
                index,
                name: name.to_string(),
                array,
                primitive,
                items: vec![(value, ext)],
            }),
        }
    }

    /// Moves the properties into `map`, in definition order.
    pub(crate) fn into_map(mut self, map: &mut Map<String, Value>) {
        self.list.sort_by_key(|s| s.index);
        for slot in self.list {
            let has_ext = slot.items.iter().any(|(_, e)| e.is_some());
            let has_value = slot.items.iter().any(|(v, _)| v.is_some());
            let (values, exts): (Vec<Value>, Vec<Value>) = slot
                .items
                .into_iter()
                .map(|(v, e)| {
                    (
                        v.unwrap_or(Value::Null),
                        e.map_or(Value::Null, Value::Object),
                    )
                })
                .unzip();
            let shape = |mut list: Vec<Value>| {
                if slot.array {
                    Value::Array(list)
                } else {
                    list.pop().unwrap_or(Value::Null)
                }
            };
            if has_value || !slot.primitive {
                map.insert(slot.name.clone(), shape(values));
            }
            if slot.primitive && has_ext {
                map.insert(format!("_{}", slot.name), shape(exts));
            }
        }
    }
}
