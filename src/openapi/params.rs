//! Query parameters as [`crate::http::list::ListQuery`] parses them: `pagination[page]`,
//! `pagination[limit]`, `order[field]=asc|desc` and `filter[field]` (comma-separated values)
//! or `filter[field][gt|gte|lt|lte]`. Unknown parameters are ignored; a malformed value is a
//! 422 `bad_request` naming the parameter.

#![allow(dead_code)]

use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr, Required};

/// Declares a type whose [`IntoParams`] are the parameters of one list.
macro_rules! list_params {
    ($name:ident, $list:expr) => {
        pub struct $name;

        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                const LIST: $crate::openapi::params::List = $list;
                LIST.parameters()
            }
        }
    };
}

/// The parameters of one list, built from what its handler reads.
pub struct List {
    /// `order[field]` each list accepts.
    pub order: &'static [&'static str],
    /// The only direction a list with one fixed order serves (`None`: either).
    pub fixed_direction: Option<&'static str>,
    /// `filter[field]` with comma-separated UUIDs.
    pub uuid_filters: &'static [&'static str],
    /// `filter[field]` with comma-separated values among a set (empty: any text).
    pub enum_filters: &'static [(&'static str, &'static [&'static str])],
    /// `filter[field]` with free text values.
    pub text_filters: &'static [&'static str],
    /// `filter[field]` with text values compared as they are (PostgreSQL text: no NUL).
    pub exact_text_filters: &'static [&'static str],
    /// `filter[field][op]` on timestamps.
    pub time_ranges: &'static [&'static str],
    /// `filter[field][op]` on dates.
    pub date_ranges: &'static [&'static str],
}

impl Default for List {
    fn default() -> Self {
        Self::new()
    }
}

impl List {
    pub const fn new() -> Self {
        Self {
            order: &[],
            fixed_direction: None,
            uuid_filters: &[],
            enum_filters: &[],
            text_filters: &[],
            exact_text_filters: &[],
            time_ranges: &[],
            date_ranges: &[],
        }
    }

    pub fn parameters(&self) -> Vec<Parameter> {
        let mut out = vec![
            query(
                "pagination[page]",
                "Page number, from 1.",
                integer(1, MAX_NUMBER),
            ),
            query(
                "pagination[limit]",
                "Items per page (default 10; more than 100 is read as 100).",
                integer(1, MAX_NUMBER),
            ),
        ];
        for field in self.order {
            out.push(query(
                &format!("order[{field}]"),
                &format!("Order by `{field}`."),
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(match self.fixed_direction {
                            Some("asc") => vec!["asc", "ASC"],
                            Some(_) => vec!["desc", "DESC"],
                            None => vec!["asc", "desc", "ASC", "DESC"],
                        }))
                        .build(),
                )),
            ));
        }
        for field in self.uuid_filters {
            out.push(query(
                &format!("filter[{field}]"),
                "One id or several separated by commas.",
                string(Some(&comma_separated(UUID_PATTERN))),
            ));
        }
        for (field, values) in self.enum_filters {
            let (pattern, description) = if *field == "is_closed" {
                // One value only.
                (
                    format!("^[ \\t,]*({})[ \\t,]*$", values.join("|")),
                    format!("One of {}.", values.join(", ")),
                )
            } else {
                (
                    comma_separated(&values.join("|")),
                    format!(
                        "One of {} or several separated by commas.",
                        values.join(", ")
                    ),
                )
            };
            out.push(query(
                &format!("filter[{field}]"),
                &description,
                string(Some(&pattern)),
            ));
        }
        for field in self.text_filters {
            out.push(query(
                &format!("filter[{field}]"),
                "One value or several separated by commas.",
                string(None),
            ));
        }
        for field in self.exact_text_filters {
            out.push(query(
                &format!("filter[{field}]"),
                "One value or several separated by commas.",
                string(Some("^[^\\u0000]*$")),
            ));
        }
        let formatted = |format: KnownFormat| {
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(format)))
                    .build(),
            )
        };
        for field in self.time_ranges {
            for op in ["gt", "gte", "lt", "lte"] {
                // A timestamp (UTC when it has no zone) or a date (its midnight).
                let schema = AnyOfBuilder::new()
                    .item(formatted(KnownFormat::DateTime))
                    .item(formatted(KnownFormat::Date))
                    .build();
                out.push(query(
                    &format!("filter[{field}][{op}]"),
                    &format!("`{field}` {op} a timestamp (UTC when it has no zone) or a date."),
                    RefOr::T(Schema::AnyOf(schema)),
                ));
            }
        }
        for field in self.date_ranges {
            for op in ["gt", "gte", "lt", "lte"] {
                let schema = AnyOfBuilder::new()
                    .item(formatted(KnownFormat::Date))
                    .item(formatted(KnownFormat::DateTime))
                    .build();
                out.push(query(
                    &format!("filter[{field}][{op}]"),
                    &format!("`{field}` {op} a date `YYYY-MM-DD` (or a timestamp: its date)."),
                    RefOr::T(Schema::AnyOf(schema)),
                ));
            }
        }
        out
    }
}

/// The largest page and limit the server reads (`u64`); a larger one is a 422.
const MAX_NUMBER: u64 = u64::MAX;

/// `values` separated by commas; blanks and empty items are ignored (an empty value is no
/// filter at all).
fn comma_separated(value: &str) -> String {
    format!("^[ \\t,]*(({value})[ \\t]*(,[ \\t,]*({value})[ \\t]*)*)?[ \\t,]*$")
}

/// A hyphenated UUID, the only form the server reads.
pub const UUID_PATTERN: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

fn query(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn integer(minimum: u64, maximum: u64) -> RefOr<Schema> {
    let number = |n: u64| utoipa::Number::UInt(usize::try_from(n).unwrap_or(usize::MAX));
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(number(minimum)))
            .maximum(Some(number(maximum)))
            .build(),
    ))
}

fn string(pattern: Option<&str>) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(pattern)
            .build(),
    ))
}

/// `{id}` of a path: a UUID (a malformed one is a 422 `bad_request` naming `id`).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    pub id: uuid::Uuid,
}

use crate::routes::{bookings, messages, threads};

list_params!(
    ThreadListParams,
    List {
        order: &threads::ORDERABLE,
        uuid_filters: &["property_id", "booking_id", "channel_id"],
        enum_filters: &[
            ("provider", &["BookingCom", "AirBNB"]),
            ("is_closed", &["true", "false"])
        ],
        time_ranges: &threads::ORDERABLE,
        ..List::new()
    }
);
list_params!(
    MessageListParams,
    List {
        order: &["inserted_at"],
        enum_filters: &[("sender", &messages::SENDERS)],
        ..List::new()
    }
);
list_params!(
    BookingListParams,
    List {
        order: &bookings::ORDERABLE,
        uuid_filters: &["property_id"],
        enum_filters: &[("status", &bookings::STATUSES)],
        text_filters: &["ota_name"],
        exact_text_filters: &["ota_reservation_code"],
        time_ranges: &bookings::TIME_RANGES,
        date_ranges: &bookings::DATE_RANGES,
        ..List::new()
    }
);
list_params!(PageParams, List::new());
list_params!(
    WebhookListParams,
    List {
        order: &["inserted_at"],
        ..List::new()
    }
);
list_params!(
    AttemptListParams,
    List {
        order: &["attempted_at"],
        ..List::new()
    }
);
list_params!(
    EventListParams,
    List {
        order: &["sequence"],
        uuid_filters: &["property_id"],
        ..List::new()
    }
);
list_params!(
    StreamParams,
    List {
        uuid_filters: &["property_id"],
        ..List::new()
    }
);
list_params!(
    OutboxListParams,
    List {
        order: &["inserted_at"],
        uuid_filters: &["property_id", "message_thread_id"],
        ..List::new()
    }
);
list_params!(
    UserListParams,
    List {
        order: &["inserted_at"],
        fixed_direction: Some("asc"),
        ..List::new()
    }
);
list_params!(
    ConsolePropertyListParams,
    List {
        order: &["inserted_at"],
        fixed_direction: Some("asc"),
        uuid_filters: &["user_id"],
        ..List::new()
    }
);
list_params!(
    ConsoleBookingListParams,
    List {
        order: &["inserted_at"],
        fixed_direction: Some("desc"),
        uuid_filters: &["property_id"],
        ..List::new()
    }
);
list_params!(
    ConsoleThreadListParams,
    List {
        order: &["last_message_received_at"],
        fixed_direction: Some("desc"),
        uuid_filters: &["property_id"],
        ..List::new()
    }
);
list_params!(
    ConsoleMessageListParams,
    List {
        order: &["inserted_at"],
        ..List::new()
    }
);
list_params!(
    DeliveryListParams,
    List {
        order: &["inserted_at"],
        fixed_direction: Some("desc"),
        uuid_filters: &["property_id", "webhook_id"],
        ..List::new()
    }
);

/// `after` of `GET /api/v1/events`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterParam {
    /// The stream id to start after (default 0: everything kept).
    #[param(minimum = 0, maximum = 9223372036854775807i64)]
    pub after: Option<i64>,
}

/// Where a live stream starts: after `Last-Event-ID` (or `last_event_id`), else from now.
pub struct ResumeParams;

impl IntoParams for ResumeParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let id = || {
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[ \\t]*([0-9]{1,18})?[ \\t]*$"))
                    .build(),
            ))
        };
        vec![
            ParameterBuilder::new()
                .name("Last-Event-ID")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("The last stream id the client saw."))
                .schema(Some(id()))
                .build(),
            query(
                "last_event_id",
                "The last stream id the client saw (for clients that cannot set headers).",
                id(),
            ),
        ]
    }
}
