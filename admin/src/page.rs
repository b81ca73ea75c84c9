//! Paging of list operations, for both control planes: `maxResults`/`nextToken` (v2) and
//! `limit`/`position` (v1, REST APIs and usage plans alike).
//!
//! # Architecture
//! 1. [`Cursor::parse`] reads the size and token members as [`Members`] names and bounds them;
//!    a bad one is a 400 naming the member.
//! 2. [`Cursor::take`] walks items in key order, skipping up to the token's key, and keeps at
//!    most `limit` of them; [`Cursor::range`] starts that walk in a map without scanning.
//!
//! Invariant: a token is the hex of the last key returned, so it is opaque to callers and
//! stays valid across changes (the next page starts after that key, wherever it now is).

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::Bound;

use portico_shared::limits::{PAGE_MAX, PAGE_TOKEN_MAX_CHARS, PAGE_V1_DEFAULT};
use serde::Serialize;

use crate::error::ApiError;

/// How one API family names and bounds its paging members.
#[derive(Debug)]
pub(crate) struct Members {
    /// The page size member (`maxResults`, `limit`).
    pub(crate) limit: &'static str,
    /// The token member (`nextToken`, `position`).
    pub(crate) token: &'static str,
    /// Items in a page when the caller gives no size.
    pub(crate) default: usize,
    /// Largest size.
    pub(crate) max: usize,
}

/// Where a page starts and how long it is.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The key the previous page ended on: this page starts after it.
    pub(crate) after: Option<String>,
    /// Most items in the page.
    pub(crate) limit: usize,
}

// === impl Cursor ===

impl Cursor {
    /// The cursor of a request's size and token members (raw; an empty token is none).
    pub(crate) fn parse(
        m: &Members,
        limit: Option<&str>,
        token: Option<&str>,
    ) -> Result<Cursor, ApiError> {
        let limit = match limit {
            None => m.default,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=m.max).contains(&n) => n,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "{} must be a number between 1 and {}",
                        m.limit, m.max
                    )))
                }
            },
        };
        let after = match token {
            None | Some("") => None,
            Some(t) => Some(
                decode(t).ok_or_else(|| ApiError::BadRequest(format!("Invalid {}", m.token)))?,
            ),
        };
        Ok(Cursor { after, limit })
    }

    /// The entries of `map` after the cursor, in key order.
    pub(crate) fn range<'a, V>(
        &self,
        map: &'a BTreeMap<String, V>,
    ) -> btree_map::Range<'a, String, V> {
        let start = match &self.after {
            Some(k) => Bound::Excluded(k.as_str()),
            None => Bound::Unbounded,
        };
        map.range::<str, _>((start, Bound::Unbounded))
    }

    /// One page of `items` (in key order): at most `limit` views of the items after the
    /// cursor, and the token of the last one when more follow.
    pub(crate) fn take<'a, V: 'a, T>(
        &self,
        items: impl Iterator<Item = (&'a String, V)>,
        view: impl Fn(V) -> T,
    ) -> (Vec<T>, Option<String>) {
        let mut page = Vec::new();
        let mut last: Option<&String> = None;
        let mut more = false;
        for (k, v) in items {
            if self.after.as_deref().is_some_and(|a| k.as_str() <= a) {
                continue;
            }
            if page.len() == self.limit {
                more = true;
                break;
            }
            page.push(view(v));
            last = Some(k);
        }
        let token = if more { last.map(hex::encode) } else { None };
        (page, token)
    }
}

/// The key a token names; `None` if it is not the hex of UTF-8 or is too long.
fn decode(token: &str) -> Option<String> {
    if token.len() > PAGE_TOKEN_MAX_CHARS {
        return None;
    }
    String::from_utf8(hex::decode(token).ok()?).ok()
}

// === v1 list operations (REST APIs, API keys, usage plans, VPC links, domain names) ===

/// The paging members of v1 list operations (REST APIs, API keys and usage plans alike).
pub(crate) const PAGING: Members = Members {
    limit: "limit",
    token: "position",
    default: PAGE_V1_DEFAULT,
    max: PAGE_MAX,
};

/// A v1 collection: wire key `item` (botocore renames it `items`), `position` when more follow.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Collection<T> {
    pub(crate) item: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) position: Option<String>,
}

/// The query string members of v1 list operations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    pub(crate) limit: Option<String>,
    pub(crate) position: Option<String>,
    /// `embed=methods` (`GetResources`, `GetResource`); repeated keys are allowed.
    pub(crate) embed: Vec<String>,
    /// `GetStages`' filter.
    pub(crate) deployment_id: Option<String>,
}

// === impl Listing ===

impl Listing {
    /// Parses a raw query string. Values are percent-decoded; unknown members are ignored (as
    /// AWS ignores them).
    pub(crate) fn parse(query: Option<&str>) -> Result<Listing, ApiError> {
        let mut out = Listing::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)
                .ok_or_else(|| ApiError::BadRequest(format!("Invalid query string member {k}")))?;
            match k {
                "limit" => out.limit = Some(v),
                "position" => out.position = Some(v),
                "embed" => out.embed.push(v),
                "deploymentId" => out.deployment_id = Some(v),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether `embed` names `what` (`methods`, `apisummary`).
    pub(crate) fn embeds(&self, what: &str) -> bool {
        self.embed
            .iter()
            .flat_map(|e| e.split(','))
            .any(|e| e.trim() == what)
    }

    /// Where the page starts and how long it is; a bad `limit` or `position` is a 400.
    pub(crate) fn cursor(&self) -> Result<Cursor, ApiError> {
        Cursor::parse(&PAGING, self.limit.as_deref(), self.position.as_deref())
    }
}

/// One page of `map` after the key `position` names, of at most `limit` items.
pub(crate) fn page<V, T>(
    map: &BTreeMap<String, V>,
    q: &Listing,
    view: impl Fn(&V) -> T,
) -> Result<Collection<T>, ApiError> {
    let cursor = q.cursor()?;
    let (item, position) = cursor.take(cursor.range(map), view);
    Ok(Collection { item, position })
}

/// [`page`] of the entries whose key `keep` keeps (this region's, `region.rs`).
pub(crate) fn page_where<V, T>(
    map: &BTreeMap<String, V>,
    q: &Listing,
    keep: impl Fn(&str) -> bool,
    view: impl Fn(&V) -> T,
) -> Result<Collection<T>, ApiError> {
    let cursor = q.cursor()?;
    let (item, position) = cursor.take(cursor.range(map).filter(|(k, _)| keep(k)), view);
    Ok(Collection { item, position })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Members = Members {
        limit: "limit",
        token: "position",
        default: 2,
        max: 3,
    };

    #[test]
    fn pages_walk_the_keys() {
        let map: BTreeMap<String, u32> = (1..=5).map(|i| (format!("k{i}"), i)).collect();
        let first = Cursor::parse(&M, None, None).unwrap();
        let (items, token) = first.take(first.range(&map), |v| *v);
        assert_eq!(items, [1, 2]);
        let next = Cursor::parse(&M, Some("3"), token.as_deref()).unwrap();
        let (items, token) = next.take(next.range(&map), |v| *v);
        assert_eq!(items, [3, 4, 5]);
        assert_eq!(token, None);
        // A filtered walk that skips to the token itself.
        let (items, _) = next.take(map.iter().filter(|(_, v)| **v != 4), |v| *v);
        assert_eq!(items, [3, 5]);
    }

    #[test]
    fn bad_members_are_400s() {
        let e = Cursor::parse(&M, Some("4"), None).unwrap_err();
        assert_eq!(e.message(), "limit must be a number between 1 and 3");
        let e = Cursor::parse(&M, None, Some("zz")).unwrap_err();
        assert_eq!(e.message(), "Invalid position");
        assert!(Cursor::parse(&M, None, Some(&"61".repeat(200))).is_err());
    }
}
