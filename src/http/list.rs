//! List parameters (§5): `pagination[page]`, `pagination[limit]`, `order[field]`,
//! `filter[field]` and `filter[field][gt|gte|lt|lte]`. Unknown parameters are ignored;
//! malformed values are a 422 `bad_request` naming the parameter.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::error::{ApiError, FieldErrors};

pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 100;

/// The raw list parameters of a request.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub page: u64,
    pub limit: u32,
    /// `order[field]=asc|desc`: the field and whether it is descending.
    pub order: Option<(String, bool)>,
    /// `filter[field]=v1,v2`
    pub filters: BTreeMap<String, Vec<String>>,
    /// `filter[field][op]=v`
    pub ranges: BTreeMap<(String, String), String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// A validated order: a whitelisted column and a direction.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub field: &'static str,
    pub direction: Direction,
}

impl ListQuery {
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut out = ListQuery {
            page: 1,
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let mut errors = FieldErrors::new();
        let mut bad = |name: &str| {
            errors
                .entry(name.to_owned())
                .or_default()
                .push("is invalid".to_owned());
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "pagination[page]" => match value.parse::<u64>() {
                    Ok(page) if page >= 1 => out.page = page,
                    _ => bad(&key),
                },
                "pagination[limit]" => match value.parse::<u64>() {
                    Ok(limit) if limit >= 1 => out.limit = limit.min(u64::from(MAX_LIMIT)) as u32,
                    _ => bad(&key),
                },
                _ => {
                    if let Some(field) = bracketed(&key, "order") {
                        match value.as_ref() {
                            "asc" | "ASC" => out.order = Some((field.to_owned(), false)),
                            "desc" | "DESC" => out.order = Some((field.to_owned(), true)),
                            _ => bad(&key),
                        }
                    } else if let Some(inner) = key.strip_prefix("filter[") {
                        match inner.split_once("][") {
                            Some((field, op)) => match op.strip_suffix(']') {
                                Some(op @ ("gt" | "gte" | "lt" | "lte")) => {
                                    out.ranges.insert(
                                        (field.to_owned(), op.to_owned()),
                                        value.into_owned(),
                                    );
                                }
                                _ => bad(&key),
                            },
                            None => {
                                if let Some(field) = inner.strip_suffix(']') {
                                    let values = value
                                        .split(',')
                                        .map(str::trim)
                                        .filter(|v| !v.is_empty())
                                        .map(str::to_owned);
                                    out.filters
                                        .entry(field.to_owned())
                                        .or_default()
                                        .extend(values);
                                }
                            }
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ApiError::BadRequest(errors))
        }
    }

    /// Rows to skip for this page (saturating: a huge page is simply empty).
    pub fn offset(&self) -> i64 {
        let offset = (self.page - 1).saturating_mul(u64::from(self.limit));
        i64::try_from(offset).unwrap_or(i64::MAX)
    }

    /// The order among `allowed` (default first), or a 422 naming `order[field]`.
    pub fn order(&self, allowed: &[&'static str], default: Order) -> Result<Order, ApiError> {
        match &self.order {
            None => Ok(default),
            Some((field, desc)) => allowed
                .iter()
                .find(|f| **f == field.as_str())
                .map(|f| Order {
                    field: f,
                    direction: if *desc {
                        Direction::Desc
                    } else {
                        Direction::Asc
                    },
                })
                .ok_or_else(|| ApiError::bad_param(&format!("order[{field}]"))),
        }
    }

    /// `{"limit", "page", "total"}`.
    pub fn meta(&self, total: i64) -> Value {
        json!({ "limit": self.limit, "page": self.page, "total": total })
    }

    /// `meta` with `order_by` and `order_direction`, for thread and message lists.
    pub fn meta_ordered(&self, total: i64, order: Order) -> Value {
        let mut meta = self.meta(total);
        meta["order_by"] = json!(order.field);
        meta["order_direction"] = json!(order.direction.sql());
        meta
    }

    /// The UUID values of `filter[field]`, each validated.
    pub fn uuid_filter(&self, field: &str) -> Result<Option<Vec<uuid::Uuid>>, ApiError> {
        let Some(values) = self.filters.get(field) else {
            return Ok(None);
        };
        values
            .iter()
            .map(|v| super::path::parse_uuid(v))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ApiError::bad_param(&format!("filter[{field}]")))
    }
}

fn bracketed<'a>(key: &'a str, name: &str) -> Option<&'a str> {
    key.strip_prefix(name)?
        .strip_prefix('[')?
        .strip_suffix(']')
        .filter(|f| !f.contains(['[', ']']))
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        ListQuery::parse(parts.uri.query().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_names(query: &str) -> Vec<String> {
        match ListQuery::parse(query) {
            Err(ApiError::BadRequest(fields)) => fields.into_keys().collect(),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_page_one_of_ten() {
        let q = ListQuery::parse("").unwrap();
        assert_eq!((q.page, q.limit, q.offset()), (1, 10, 0));
    }

    #[test]
    fn limit_is_capped_at_one_hundred() {
        let q = ListQuery::parse("pagination[page]=3&pagination[limit]=1000").unwrap();
        assert_eq!((q.page, q.limit, q.offset()), (3, 100, 200));
    }

    #[test]
    fn bracket_keys_may_arrive_percent_encoded() {
        let q = ListQuery::parse("pagination%5Bpage%5D=2&pagination%5Blimit%5D=5").unwrap();
        assert_eq!((q.page, q.limit), (2, 5));
    }

    #[test]
    fn malformed_pagination_values_name_the_parameter() {
        for (query, name) in [
            ("pagination[page]=0", "pagination[page]"),
            ("pagination[page]=-1", "pagination[page]"),
            ("pagination[page]=abc", "pagination[page]"),
            ("pagination[page]=1.5", "pagination[page]"),
            (
                "pagination[page]=99999999999999999999999",
                "pagination[page]",
            ),
            ("pagination[limit]=0", "pagination[limit]"),
            ("pagination[limit]=-5", "pagination[limit]"),
            ("pagination[limit]=", "pagination[limit]"),
            ("order[inserted_at]=sideways", "order[inserted_at]"),
            (
                "filter[inserted_at][between]=x",
                "filter[inserted_at][between]",
            ),
        ] {
            assert_eq!(bad_names(query), vec![name.to_owned()], "{query}");
        }
    }

    #[test]
    fn huge_pages_are_empty_not_errors() {
        let q = ListQuery::parse("pagination[page]=18446744073709551615&pagination[limit]=100")
            .unwrap();
        assert_eq!(q.offset(), i64::MAX);
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let q = ListQuery::parse("page[limit]=5&foo=bar&order=x&filter=y").unwrap();
        assert_eq!((q.page, q.limit), (1, 10));
        assert!(q.order.is_none() && q.filters.is_empty());
    }

    #[test]
    fn filters_split_on_commas_and_ranges_keep_their_operator() {
        let q = ListQuery::parse(
            "filter[provider]=BookingCom,AirBNB&filter[inserted_at][gte]=2021-01-01",
        )
        .unwrap();
        assert_eq!(q.filters["provider"], vec!["BookingCom", "AirBNB"]);
        assert_eq!(
            q.ranges[&("inserted_at".to_owned(), "gte".to_owned())],
            "2021-01-01"
        );
    }

    #[test]
    fn order_is_checked_against_a_whitelist() {
        let default = Order {
            field: "inserted_at",
            direction: Direction::Desc,
        };
        let allowed = ["inserted_at", "updated_at"];
        let q = ListQuery::parse("order[updated_at]=asc").unwrap();
        let order = q.order(&allowed, default).unwrap();
        assert_eq!(
            (order.field, order.direction),
            ("updated_at", Direction::Asc)
        );
        let q = ListQuery::parse("order[title]=asc").unwrap();
        assert!(matches!(
            q.order(&allowed, default),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn uuid_filters_reject_malformed_ids() {
        let q = ListQuery::parse("filter[property_id]=nope").unwrap();
        assert!(q.uuid_filter("property_id").is_err());
        let q =
            ListQuery::parse("filter[property_id]=5848b518-07a4-4c8c-a998-2784d638ba30").unwrap();
        assert_eq!(q.uuid_filter("property_id").unwrap().unwrap().len(), 1);
    }
}
