//! `patchOperations`: every v1 `Update*` operation is a PATCH with a list of JSON-Patch-like
//! operations (`op`, `path`, `value`, `from`) whose paths are JSON pointers (`~1` is `/`,
//! `~0` is `~`).
//!
//! # Architecture
//! 1. [`PatchInput`] parses the body (an `op` outside the model's enum was already answered
//!    `ValidationException` by `operations::validate_enums`; unknown members are ignored).
//! 2. Each operation applies its ops in order to a copy of the record, through the typed setters
//!    below ([`PatchOp::set_string`], [`PatchOp::map_string`], ...), and matches the paths it
//!    knows; any other path is [`PatchOp::invalid_path`], a 400 naming the path and the op.
//! 3. The copy replaces the record only if every op applied: an update is all or nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use portico_shared::limits::PATCH_OPERATIONS_MAX;

use crate::error::ApiError;

/// An `Update*` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PatchInput {
    #[serde(default)]
    pub(crate) patch_operations: Vec<PatchOp>,
}

/// One `PatchOperation`.
#[derive(Debug, Clone, Deserialize)]

pub(crate) struct PatchOp {
    pub(crate) op: Op,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) value: Option<String>,
    #[serde(default)]
    pub(crate) from: Option<String>,
}

/// `Op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Op {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

// === impl PatchInput ===

impl PatchInput {
    /// The operations, bounded.
    pub(crate) fn ops(&self) -> Result<&[PatchOp], ApiError> {
        if self.patch_operations.len() > PATCH_OPERATIONS_MAX {
            return Err(ApiError::BadRequest(format!(
                "patchOperations must have at most {PATCH_OPERATIONS_MAX} entries"
            )));
        }
        Ok(&self.patch_operations)
    }
}

// === impl Op ===

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
            Op::Move => "move",
            Op::Copy => "copy",
            Op::Test => "test",
        })
    }
}

// === impl PatchOp ===

impl PatchOp {
    /// The path's segments, unescaped (`/binaryMediaTypes/image~1png` → `binaryMediaTypes`,
    /// `image/png`).
    pub(crate) fn segments(&self) -> Result<Vec<String>, ApiError> {
        Ok(self.raw_segments()?.iter().map(|s| unescape(s)).collect())
    }

    /// The path's segments as written (method settings keep `~1pets/GET` verbatim).
    pub(crate) fn raw_segments(&self) -> Result<Vec<&str>, ApiError> {
        match self.path.strip_prefix('/') {
            Some(rest) => Ok(rest.split('/').collect()),
            None => Err(ApiError::BadRequest(format!(
                "Invalid patch path '{}': it must start with '/'",
                self.path
            ))),
        }
    }

    /// The 400 for a path this operation does not know (or an op it does not allow there).
    pub(crate) fn invalid_path(&self) -> ApiError {
        let from = match &self.from {
            Some(f) => format!(" (from '{f}')"),
            None => String::new(),
        };
        ApiError::BadRequest(format!(
            "Invalid patch path '{}' specified for op '{}'{from}",
            self.path, self.op
        ))
    }

    /// `value`, required.
    pub(crate) fn value(&self) -> Result<&str, ApiError> {
        self.value.as_deref().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid patch operation: op '{}' on '{}' needs a value",
                self.op, self.path
            ))
        })
    }

    pub(crate) fn bool_value(&self) -> Result<bool, ApiError> {
        match self.value()? {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(ApiError::BadRequest(format!(
                "Invalid value '{v}' for '{}': use true or false",
                self.path
            ))),
        }
    }

    pub(crate) fn i64_value(&self, min: i64, max: i64) -> Result<i64, ApiError> {
        let v = self.value()?;
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "Invalid value '{v}' for '{}': use a whole number from {min} to {max}",
                self.path
            ))),
        }
    }

    pub(crate) fn f64_value(&self, min: f64, max: f64) -> Result<f64, ApiError> {
        let v = self.value()?;
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "Invalid value '{v}' for '{}': use a number from {min} to {max}",
                self.path
            ))),
        }
    }

    /// `add`/`replace` set the member; `remove` clears it.
    pub(crate) fn set_string(&self, target: &mut Option<String>) -> Result<(), ApiError> {
        match self.op {
            Op::Add | Op::Replace => *target = Some(self.value()?.to_string()),
            Op::Remove => *target = None,
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }

    /// `add`/`replace` set the member; `remove` is not allowed on a required member.
    pub(crate) fn set_required_string(&self, target: &mut String) -> Result<(), ApiError> {
        match self.op {
            Op::Add | Op::Replace => *target = self.value()?.to_string(),
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }

    /// `add`/`replace` set an enum member from its wire name; `remove` is not allowed. A value
    /// that is not a wire name leaves the member as it was and is handed back, so the caller
    /// reports it with AWS's message for that member, next to the member's other problems.
    pub(crate) fn set_required_enum<T: FromStr>(
        &self,
        target: &mut T,
    ) -> Result<Option<String>, ApiError> {
        match self.op {
            Op::Add | Op::Replace => Ok(self.enum_value()?.map(|t| *target = t).err()),
            _ => Err(self.invalid_path()),
        }
    }

    /// `add`/`replace` set an optional enum member from its wire name; `remove` clears it. A
    /// value that is not a wire name is handed back, as [`Self::set_required_enum`] does.
    pub(crate) fn set_enum<T: FromStr>(
        &self,
        target: &mut Option<T>,
    ) -> Result<Option<String>, ApiError> {
        match self.op {
            Op::Add | Op::Replace => Ok(self.enum_value()?.map(|t| *target = Some(t)).err()),
            Op::Remove => {
                *target = None;
                Ok(None)
            }
            _ => Err(self.invalid_path()),
        }
    }

    /// The value as an enum, or (inner `Err`) the value as given when it is not a wire name.
    fn enum_value<T: FromStr>(&self) -> Result<Result<T, String>, ApiError> {
        let v = self.value()?;
        Ok(v.parse().map_err(|_| v.to_string()))
    }

    /// `add`/`replace` set the flag; `remove` resets it to false.
    pub(crate) fn set_bool(&self, target: &mut bool) -> Result<(), ApiError> {
        match self.op {
            Op::Add | Op::Replace => *target = self.bool_value()?,
            Op::Remove => *target = false,
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }

    /// `/member/KEY` of a string map: `add`/`replace` insert the value, `remove` removes the key.
    pub(crate) fn map_string(
        &self,
        map: &mut BTreeMap<String, String>,
        key: &str,
    ) -> Result<(), ApiError> {
        match self.op {
            Op::Add | Op::Replace => {
                map.insert(key.to_string(), self.value()?.to_string());
            }
            Op::Remove => {
                map.remove(key);
            }
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }

    /// `/member/KEY` of a boolean map (required parameters): a missing value is `false`.
    pub(crate) fn map_bool(
        &self,
        map: &mut BTreeMap<String, bool>,
        key: &str,
    ) -> Result<(), ApiError> {
        match self.op {
            Op::Add | Op::Replace => {
                let v = if self.value.is_some() {
                    self.bool_value()?
                } else {
                    false
                };
                map.insert(key.to_string(), v);
            }
            Op::Remove => {
                map.remove(key);
            }
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }

    /// `/member/ITEM` of a string list: `add` appends the item, `remove` removes it, `replace`
    /// puts `value` in its place.
    pub(crate) fn list_string(&self, list: &mut Vec<String>, item: &str) -> Result<(), ApiError> {
        match self.op {
            Op::Add => {
                if !list.iter().any(|i| i == item) {
                    list.push(item.to_string());
                }
            }
            Op::Remove => list.retain(|i| i != item),
            Op::Replace => {
                let value = self.value()?.to_string();
                match list.iter_mut().find(|i| *i == item) {
                    Some(slot) => *slot = value,
                    None => {
                        return Err(ApiError::BadRequest(format!(
                            "Invalid patch operation: '{}' is not in the list",
                            self.path
                        )))
                    }
                }
            }
            _ => return Err(self.invalid_path()),
        }
        Ok(())
    }
}

/// JSON-pointer unescaping: `~1` is `/`, `~0` is `~`.
pub(crate) fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: Op, path: &str, value: Option<&str>) -> PatchOp {
        PatchOp {
            op,
            path: path.into(),
            value: value.map(Into::into),
            from: None,
        }
    }

    #[test]
    fn segments_unescape_json_pointers() {
        let o = op(Op::Add, "/binaryMediaTypes/image~1png", None);
        assert_eq!(o.segments().unwrap(), ["binaryMediaTypes", "image/png"]);
        assert_eq!(
            op(Op::Add, "/~1pets/GET/throttling/rateLimit", None)
                .raw_segments()
                .unwrap(),
            ["~1pets", "GET", "throttling", "rateLimit"]
        );
        assert!(op(Op::Add, "name", None).segments().is_err());
        assert_eq!(unescape("a~0b~1c"), "a~b/c");
    }

    #[test]
    fn lists_and_maps() {
        let mut list = vec!["a".to_string()];
        op(Op::Add, "/x/b", None)
            .list_string(&mut list, "b")
            .unwrap();
        op(Op::Replace, "/x/a", Some("c"))
            .list_string(&mut list, "a")
            .unwrap();
        assert_eq!(list, ["c", "b"]);
        op(Op::Remove, "/x/b", None)
            .list_string(&mut list, "b")
            .unwrap();
        assert_eq!(list, ["c"]);
        let mut map = BTreeMap::new();
        op(Op::Add, "/m/k", Some("true"))
            .map_bool(&mut map, "k")
            .unwrap();
        assert_eq!(map.get("k"), Some(&true));
        assert!(op(Op::Add, "/m/k", Some("yes"))
            .map_bool(&mut map, "k")
            .is_err());
        let e = op(Op::Move, "/m/k", None)
            .map_bool(&mut map, "k")
            .unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid patch path '/m/k' specified for op 'move'"
        );
    }
}
