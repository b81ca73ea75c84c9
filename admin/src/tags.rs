//! Tags by ARN in both control planes: `apigateway` v1 `GetTags`/`TagResource`/`UntagResource`
//! (`/tags/{arn}`: `GET`, `PUT`, `DELETE ?tagKeys=`) and `apigatewayv2` `GetTags`/`TagResource`/
//! `UntagResource` (`/v2/tags/{arn}`: `GET`, `POST`, `DELETE ?tagKeys=`), so Terraform's tag
//! updates and `aws apigateway tag-resource` work.
//!
//! ARNs are `arn:aws:apigateway:{region}::{path}` with `{path}` one of `/restapis/{id}`,
//! `/restapis/{id}/stages/{name}`, `/apis/{id}`, `/apis/{id}/stages/{name}`, `/apikeys/{id}`,
//! `/usageplans/{id}`, `/domainnames/{name}`, `/vpclinks/{id}`. Every one reads; the first six
//! also change. Domain names and VPC links take their tags at creation only in Portico (the
//! tags of a VPC link hold its pool settings, compiled into the data plane): changing them is a
//! 400 that says so.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use portico_shared::limits::TAGS_MAX;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::publish::row;
use crate::records::check_tags;
use crate::store::{Change, Kind, USAGE_SCOPE};
use crate::wire::{ok, Body, Params};
use crate::AdminState;

/// What an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    RestApi(String),
    RestStage(String, String),
    Api(String),
    Stage(String, String),
    ApiKey(String),
    UsagePlan(String),
    DomainName(String),
    VpcLink(String),
}

#[derive(Debug, Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/tags/{arn}", get(get_tags).put(tag_v1).delete(untag))
        .route("/v2/tags/{arn}", get(get_tags).post(tag_v2).delete(untag))
}

async fn get_tags(State(s): State<AdminState>, Params(arn): Params<String>) -> Response {
    let result = async {
        let target = parse_arn(&arn)?;
        s.read(move |c| c.tags_of(&target)).await
    }
    .await;
    ok(result.map(|tags| json!({ "tags": tags })))
}

async fn tag_v1(
    State(s): State<AdminState>,
    Params(arn): Params<String>,
    Body(b): Body<TagsBody>,
) -> Response {
    no_content(edit(&s, &arn, Edit::Add(b.tags)).await)
}

async fn tag_v2(
    State(s): State<AdminState>,
    Params(arn): Params<String>,
    Body(b): Body<TagsBody>,
) -> Response {
    match edit(&s, &arn, Edit::Add(b.tags)).await {
        Ok(()) => (StatusCode::CREATED, axum::Json(json!({}))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `UntagResource` of either plane (both answer 204).
async fn untag(
    State(s): State<AdminState>,
    Params(arn): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    no_content(edit(&s, &arn, Edit::Remove(tag_keys(q.as_deref()))).await)
}

fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The `tagKeys` members of a query string (repeated, percent-encoded).
fn tag_keys(query: Option<&str>) -> Vec<String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "tagKeys")
        .map(|(_, v)| {
            let spaced = v.replace('+', " ");
            String::from_utf8_lossy(&portico_shared::sigv4::percent_decode(&spaced)).into_owned()
        })
        .collect()
}

enum Edit {
    Add(BTreeMap<String, String>),
    Remove(Vec<String>),
}

async fn edit(s: &AdminState, arn: &str, edit: Edit) -> Result<(), ApiError> {
    let target = parse_arn(arn)?;
    match &edit {
        Edit::Add(tags) if tags.is_empty() => {
            return Err(ApiError::BadRequest("tags must not be empty".into()))
        }
        Edit::Add(tags) => {
            let mut problems = Vec::new();
            check_tags(&mut problems, Some(tags));
            if !problems.is_empty() {
                return Err(ApiError::invalid(&problems));
            }
        }
        Edit::Remove(keys) if keys.is_empty() => {
            return Err(ApiError::BadRequest("tagKeys must not be empty".into()))
        }
        Edit::Remove(_) => {}
    }
    s.write(move |c| {
        c.retag(&target, |tags| {
            match edit {
                Edit::Add(new) => tags.extend(new),
                Edit::Remove(keys) => {
                    for k in keys {
                        tags.remove(&k);
                    }
                }
            }
            if tags.len() > TAGS_MAX {
                return Err(ApiError::BadRequest(format!(
                    "A resource can have at most {TAGS_MAX} tags"
                )));
            }
            Ok(())
        })
    })
    .await
}

/// `arn:aws:apigateway:{region}::{path}` to what it names.
fn parse_arn(arn: &str) -> Result<Target, ApiError> {
    let bad = || ApiError::BadRequest(format!("Invalid ARN specified in the request: {arn}"));
    let rest = arn.strip_prefix("arn:").ok_or_else(bad)?;
    let mut parts = rest.splitn(5, ':');
    let (Some(_partition), Some("apigateway"), Some(_region), Some(""), Some(path)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let seg: Vec<&str> = path.strip_prefix('/').ok_or_else(bad)?.split('/').collect();
    let own = |s: &str| s.to_string();
    Ok(match seg.as_slice() {
        ["restapis", id] => Target::RestApi(own(id)),
        ["restapis", id, "stages", name] => Target::RestStage(own(id), own(name)),
        ["apis", id] => Target::Api(own(id)),
        ["apis", id, "stages", name] => Target::Stage(own(id), own(name)),
        ["apikeys", id] => Target::ApiKey(own(id)),
        ["usageplans", id] => Target::UsagePlan(own(id)),
        ["domainnames", name] => Target::DomainName(own(name)),
        ["vpclinks", id] => Target::VpcLink(own(id)),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "Portico does not tag the resource {path}: tags are kept on REST and HTTP/WebSocket APIs, their stages, API keys, usage plans, domain names and VPC links"
            )))
        }
    })
}

impl Catalog {
    fn tags_of(&self, target: &Target) -> Result<BTreeMap<String, String>, ApiError> {
        Ok(match target {
            Target::RestApi(id) => self.rest().draft(id)?.state.api.tags,
            Target::RestStage(id, name) => self.rest().draft(id)?.state.stage(name)?.tags.clone(),
            Target::Api(id) => self.draft(id)?.state.api.tags,
            Target::Stage(id, name) => self.draft(id)?.state.stage(name)?.tags.clone(),
            Target::ApiKey(id) => self.usage.key(id)?.tags.clone(),
            Target::UsagePlan(id) => self.usage.plan(id)?.stored.record.tags.clone(),
            Target::DomainName(name) => self.domains.domain(name)?.tags.clone(),
            Target::VpcLink(id) => self
                .vpc_links
                .get(id)
                .ok_or_else(|| ApiError::NotFound("Invalid VPC link identifier specified".into()))?
                .tags
                .clone(),
        })
    }

    /// Changes the tags of `target` with `f` and commits them (tags change nothing served).
    fn retag(
        &mut self,
        target: &Target,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        match target {
            Target::RestApi(id) => {
                let mut draft = self.rest().draft(id)?;
                f(&mut draft.state.api.tags)?;
                draft.put_api(false);
                self.apply_rest(draft).map(drop)
            }
            Target::RestStage(id, name) => {
                let mut draft = self.rest().draft(id)?;
                let mut stage = draft.state.stage(name)?.clone();
                f(&mut stage.tags)?;
                draft.put_stage(stage);
                self.apply_rest(draft).map(drop)
            }
            Target::Api(id) => {
                let mut d = self.draft(id)?;
                f(&mut d.state.api.tags)?;
                d.put_api(false);
                self.apply(d).map(drop)
            }
            Target::Stage(id, name) => {
                let mut d = self.draft(id)?;
                let mut stage = d.state.stage(name)?.clone();
                f(&mut stage.tags)?;
                d.put_stage(stage);
                self.apply(d).map(drop)
            }
            Target::ApiKey(id) => {
                let mut key = self.usage.key(id)?.clone();
                f(&mut key.tags)?;
                self.commit(&[Change::Put(row(USAGE_SCOPE, Kind::ApiKey, id, &key))])?;
                self.usage.keys.insert(id.clone(), key);
                Ok(())
            }
            Target::UsagePlan(id) => {
                let mut stored = self.usage.plan(id)?.stored.clone();
                f(&mut stored.record.tags)?;
                self.commit(&[Change::Put(row(USAGE_SCOPE, Kind::UsagePlan, id, &stored))])?;
                if let Some(plan) = self.usage.plans.get_mut(id) {
                    plan.stored = stored;
                }
                Ok(())
            }
            Target::DomainName(name) => {
                self.domains.domain(name)?;
                Err(ApiError::BadRequest(
                    "Portico sets the tags of a domain name when it is created; they cannot be changed".into(),
                ))
            }
            Target::VpcLink(id) => {
                if !self.vpc_links.contains_key(id) {
                    return Err(ApiError::NotFound(
                        "Invalid VPC link identifier specified".into(),
                    ));
                }
                Err(ApiError::BadRequest(
                    "Portico sets the tags of a VPC link when it is created (they hold its pool settings); they cannot be changed".into(),
                ))
            }
        }
    }

    fn commit(&self, changes: &[Change]) -> Result<(), ApiError> {
        self.store()
            .commit(changes)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_resources() {
        let t = |a: &str| parse_arn(a).ok();
        assert_eq!(
            t("arn:aws:apigateway:us-east-1::/restapis/abc"),
            Some(Target::RestApi("abc".into()))
        );
        assert_eq!(
            t("arn:aws:apigateway:us-east-1::/apis/abc/stages/$default"),
            Some(Target::Stage("abc".into(), "$default".into()))
        );
        assert_eq!(
            t("arn:aws:apigateway:eu-west-1::/usageplans/p1"),
            Some(Target::UsagePlan("p1".into()))
        );
        assert_eq!(t("arn:aws:lambda:us-east-1::/restapis/abc"), None);
        assert_eq!(
            t("arn:aws:apigateway:us-east-1::/restapis/abc/resources/x"),
            None
        );
        assert_eq!(
            tag_keys(Some("tagKeys=a&tagKeys=b%20c&other=1")),
            vec!["a".to_string(), "b c".to_string()]
        );
    }
}
