//! The REST response cache's compiled settings: what a stage's cache holds ([`StageCache`]) and
//! how one method uses it ([`MethodCache`]). The data plane's per-core shards live in
//! `dataplane/src/cache.rs`; nothing here is state.
//!
//! # Architecture
//! 1. A stage with `cacheClusterEnabled` gets a [`StageCache`]: its byte bound (the cluster size
//!    in GB, AWS's sizes only) and an `id`, a hash of (API id, stage name, flush generation).
//!    `FlushStageCache` bumps the generation ([`CacheGenerations`], kept by the control plane
//!    across compilations), so every worker's entries of the stage become unreachable at once.
//! 2. Each REST method of such a stage gets a [`MethodCache`] when caching applies to it
//!    ([`method_cache`]): its own `~1path/METHOD` setting decides for any method; otherwise the
//!    `*/*` setting, or with none AWS's default (enabled), caches GET methods only.
//!
//! Invariant: a stage whose cache is off, or a method whose caching is off, compiles to `None`,
//! so a snapshot with caching turned off stops serving from the cache on its first request.

use std::collections::HashMap;

use crate::limits::{CACHE_CLUSTER_SIZES, CACHE_KEY_PARAMETERS_MAX, CACHE_TTL_MAX_S};
use crate::model::rest::MethodSetting;

/// A stage's response cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageCache {
    /// Stable across snapshots while the stage is not flushed: a hash of (API id, stage name,
    /// flush generation). Workers key their shards by it.
    pub id: u64,
    /// The memory bound over every worker's shard, from `cacheClusterSize`.
    pub capacity_bytes: u64,
}

/// Where a cache key parameter's value comes from (`Integration.cacheKeyParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyParameter {
    /// `method.request.querystring.NAME` (the first value).
    Query(Box<str>),
    /// `method.request.header.NAME` (case-insensitive name; the first value).
    Header(Box<str>),
    /// `method.request.path.NAME`.
    Path(Box<str>),
}

/// `unauthorizedCacheControlHeaderStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedStrategy {
    /// `FAIL_WITH_403`: refuse the request (403, ACCESS_DENIED).
    FailWith403,
    /// `SUCCEED_WITH_RESPONSE_HEADER`: ignore `Cache-Control`, add a `Warning` header.
    SucceedWithResponseHeader,
    /// `SUCCEED_WITHOUT_RESPONSE_HEADER`: ignore `Cache-Control` silently.
    SucceedWithoutResponseHeader,
}

/// How one method uses its stage's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodCache {
    /// 1 to 3,600 (a TTL of 0 compiles to no caching).
    pub ttl_s: u32,
    /// Separates methods in the key: a hash of `cacheNamespace`, else of the resource path.
    pub scope: u64,
    /// The request parameters that vary the key, in the integration's order.
    pub key_parameters: Box<[KeyParameter]>,
    /// `requireAuthorizationForCacheControl`. Without IAM authorization (not built yet), no
    /// caller is authorized: when true, `Cache-Control: max-age=0` gets `unauthorized`.
    pub require_authorization: bool,
    pub unauthorized: UnauthorizedStrategy,
}

/// Flush generations per `"{api id}/{stage}"`, kept by the control plane's compile context so a
/// recompilation keeps each stage's cache id.
#[derive(Debug, Clone, Default)]
pub struct CacheGenerations(HashMap<String, u64>);

// === impl CacheGenerations ===

impl CacheGenerations {
    pub fn get(&self, api_id: &str, stage: &str) -> u64 {
        self.0
            .get(&format!("{api_id}/{stage}"))
            .copied()
            .unwrap_or(0)
    }

    /// `FlushStageCache`: the stage's next compilation gets a new cache id.
    pub fn bump(&mut self, api_id: &str, stage: &str) -> u64 {
        let g = self.0.entry(format!("{api_id}/{stage}")).or_insert(0);
        *g += 1;
        *g
    }
}

/// The byte bound of a cluster size; `None` (absent) is AWS's default, 0.5 GB.
pub fn cluster_capacity_bytes(size: Option<&str>) -> Option<u64> {
    let size = size.unwrap_or("0.5");
    CACHE_CLUSTER_SIZES
        .iter()
        .find(|(s, _)| *s == size)
        .map(|(_, bytes)| *bytes)
}

/// The stage's cache, when `cacheClusterEnabled`.
pub fn stage_cache(
    api_id: &str,
    stage: &str,
    enabled: bool,
    size: Option<&str>,
    generation: u64,
) -> Result<Option<StageCache>, String> {
    if !enabled {
        return Ok(None);
    }
    let capacity_bytes = cluster_capacity_bytes(size).ok_or_else(|| {
        format!(
            "cacheClusterSize must be one of {}",
            CACHE_CLUSTER_SIZES.map(|(s, _)| s).join(", ")
        )
    })?;
    Ok(Some(StageCache {
        id: crate::snapshot::stats_key(api_id, stage, &format!("$cache/{generation}")),
        capacity_bytes,
    }))
}

/// How `method` (`GET`, ..., `ANY`) of `resource_path` uses the stage cache: its own setting,
/// else `*/*`'s (GET only), else AWS's default for GET. `None`: not cached.
pub fn method_cache(
    method: &str,
    resource_path: &str,
    own: Option<&MethodSetting>,
    star: Option<&MethodSetting>,
    cache_namespace: Option<&str>,
    key_parameters: &[String],
) -> Result<Option<MethodCache>, String> {
    let default = MethodSetting::default();
    let (setting, enabled) = match (own, star) {
        (Some(s), _) => (s, s.caching_enabled),
        (None, Some(s)) => (s, s.caching_enabled && method == "GET"),
        (None, None) => (&default, method == "GET"),
    };
    let ttl = setting.cache_ttl_in_seconds;
    if !(0..=i64::from(CACHE_TTL_MAX_S)).contains(&ttl) {
        return Err(format!(
            "caching/ttlInSeconds must be between 0 and {CACHE_TTL_MAX_S}"
        ));
    }
    let unauthorized = match setting.unauthorized_cache_control_header_strategy.as_str() {
        "FAIL_WITH_403" => UnauthorizedStrategy::FailWith403,
        "SUCCEED_WITH_RESPONSE_HEADER" => UnauthorizedStrategy::SucceedWithResponseHeader,
        "SUCCEED_WITHOUT_RESPONSE_HEADER" => UnauthorizedStrategy::SucceedWithoutResponseHeader,
        other => {
            return Err(format!(
                "Invalid unauthorizedCacheControlHeaderStrategy '{other}': use FAIL_WITH_403, SUCCEED_WITH_RESPONSE_HEADER or SUCCEED_WITHOUT_RESPONSE_HEADER"
            ))
        }
    };
    if key_parameters.len() > CACHE_KEY_PARAMETERS_MAX {
        return Err(format!(
            "at most {CACHE_KEY_PARAMETERS_MAX} cacheKeyParameters"
        ));
    }
    let key_parameters = key_parameters
        .iter()
        .map(|p| parse_key_parameter(p))
        .collect::<Result<Box<[_]>, _>>()?;
    if !enabled || ttl == 0 {
        return Ok(None);
    }
    Ok(Some(MethodCache {
        ttl_s: ttl as u32,
        scope: crate::snapshot::stats_key(
            "$cache",
            cache_namespace.unwrap_or(""),
            if cache_namespace.is_some() {
                ""
            } else {
                resource_path
            },
        ),
        key_parameters,
        require_authorization: setting.require_authorization_for_cache_control,
        unauthorized,
    }))
}

fn parse_key_parameter(p: &str) -> Result<KeyParameter, String> {
    let named = |prefix: &str| {
        p.strip_prefix(prefix)
            .filter(|n| !n.is_empty())
            .map(Box::<str>::from)
    };
    if let Some(n) = named("method.request.querystring.") {
        Ok(KeyParameter::Query(n))
    } else if let Some(n) = named("method.request.header.") {
        Ok(KeyParameter::Header(n.to_ascii_lowercase().into()))
    } else if let Some(n) = named("method.request.path.") {
        Ok(KeyParameter::Path(n))
    } else {
        Err(format!(
            "Invalid cache key parameter '{p}': use method.request.querystring.NAME, method.request.header.NAME or method.request.path.NAME"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(enabled: bool, ttl: i64) -> MethodSetting {
        MethodSetting {
            caching_enabled: enabled,
            cache_ttl_in_seconds: ttl,
            ..Default::default()
        }
    }

    #[test]
    fn sizes_and_ids() {
        assert_eq!(cluster_capacity_bytes(None), Some(500_000_000));
        assert_eq!(cluster_capacity_bytes(Some("237")), Some(237_000_000_000));
        assert_eq!(cluster_capacity_bytes(Some("1")), None);
        assert_eq!(stage_cache("a", "s", false, None, 0), Ok(None));
        let a = stage_cache("a", "s", true, None, 0).unwrap().unwrap();
        let again = stage_cache("a", "s", true, Some("0.5"), 0)
            .unwrap()
            .unwrap();
        let flushed = stage_cache("a", "s", true, None, 1).unwrap().unwrap();
        assert_eq!(a, again);
        assert_ne!(a.id, flushed.id);
        assert!(stage_cache("a", "s", true, Some("2"), 0).is_err());
        let mut g = CacheGenerations::default();
        assert_eq!(g.get("a", "s"), 0);
        assert_eq!(g.bump("a", "s"), 1);
        assert_eq!((g.get("a", "s"), g.get("a", "t")), (1, 0));
    }

    #[test]
    fn which_methods_are_cached() {
        let on = setting(true, 60);
        let off = setting(false, 60);
        let check = |method, own, star| {
            method_cache(method, "/p", own, star, None, &[])
                .unwrap()
                .map(|m| m.ttl_s)
        };
        // No settings: AWS's default, GET only, 300 s.
        assert_eq!(check("GET", None, None), Some(300));
        assert_eq!(check("POST", None, None), None);
        // `*/*` covers GET only; its own setting enables another method.
        assert_eq!(check("GET", None, Some(&on)), Some(60));
        assert_eq!(check("POST", None, Some(&on)), None);
        assert_eq!(check("POST", Some(&on), Some(&off)), Some(60));
        assert_eq!(check("GET", Some(&off), Some(&on)), None);
        assert_eq!(check("GET", None, Some(&off)), None);
        // TTL 0 disables; out of range is refused.
        assert_eq!(check("GET", Some(&setting(true, 0)), None), None);
        assert!(method_cache("GET", "/p", Some(&setting(true, 3601)), None, None, &[]).is_err());
    }

    #[test]
    fn key_parameters_and_strategy() {
        let params = [
            "method.request.querystring.q".to_string(),
            "method.request.header.X-Tenant".to_string(),
            "method.request.path.id".to_string(),
        ];
        let m = method_cache("GET", "/p/{id}", None, None, None, &params)
            .unwrap()
            .unwrap();
        assert_eq!(
            &*m.key_parameters,
            [
                KeyParameter::Query("q".into()),
                KeyParameter::Header("x-tenant".into()),
                KeyParameter::Path("id".into())
            ]
        );
        assert!(m.require_authorization);
        assert_eq!(
            m.unauthorized,
            UnauthorizedStrategy::SucceedWithResponseHeader
        );
        let bad = ["method.request.body".to_string()];
        assert!(method_cache("GET", "/p", None, None, None, &bad).is_err());
        let mut s = setting(true, 10);
        s.unauthorized_cache_control_header_strategy = "IGNORE".into();
        assert!(method_cache("GET", "/p", Some(&s), None, None, &[]).is_err());
        // A namespace groups methods of different resources; by default the path separates.
        let scope = |path, ns| {
            method_cache("GET", path, None, None, ns, &[])
                .unwrap()
                .unwrap()
                .scope
        };
        assert_ne!(scope("/a", None), scope("/b", None));
        assert_eq!(scope("/a", Some("n")), scope("/b", Some("n")));
    }
}
