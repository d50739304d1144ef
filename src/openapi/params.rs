//! Query parameters as [`crate::http::list::ListQuery`] parses them: `pagination[page]`,
//! `pagination[limit]`, `order[field]=asc|desc` and `filter[field]` (comma-separated values)
//! or `filter[field][gt|gte|lt|lte]`. Unknown parameters are ignored; a malformed value is a
//! 422 `bad_request` naming the parameter.

#![allow(dead_code)]

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr, Required};
use utoipa::IntoParams;

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
    /// `filter[field]` with comma-separated UUIDs.
    pub uuid_filters: &'static [&'static str],
    /// `filter[field]` with comma-separated values among a set (empty: any text).
    pub enum_filters: &'static [(&'static str, &'static [&'static str])],
    /// `filter[field]` with free text values.
    pub text_filters: &'static [&'static str],
    /// `filter[field][op]` on timestamps.
    pub time_ranges: &'static [&'static str],
    /// `filter[field][op]` on dates.
    pub date_ranges: &'static [&'static str],
}

impl List {
    pub const fn new() -> Self {
        Self {
            order: &[],
            uuid_filters: &[],
            enum_filters: &[],
            text_filters: &[],
            time_ranges: &[],
            date_ranges: &[],
        }
    }

    pub fn parameters(&self) -> Vec<Parameter> {
        let mut out = vec![
            query(
                "pagination[page]",
                "Page number, from 1.",
                integer(1.0, 18_446_744_073_709_551_615.0),
            ),
            query(
                "pagination[limit]",
                "Items per page (default 10; more than 100 is read as 100).",
                integer(1.0, 18_446_744_073_709_551_615.0),
            ),
        ];
        for field in self.order {
            out.push(query(
                &format!("order[{field}]"),
                &format!("Order by `{field}`."),
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["asc", "desc", "ASC", "DESC"]))
                        .build(),
                )),
            ));
        }
        for field in self.uuid_filters {
            out.push(query(
                &format!("filter[{field}]"),
                "One id or several separated by commas.",
                string(Some(
                    "^\\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\s*(,\\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\s*)*$",
                )),
            ));
        }
        for (field, values) in self.enum_filters {
            let one = values.join("|");
            out.push(query(
                &format!("filter[{field}]"),
                &format!("One of {} or several separated by commas.", values.join(", ")),
                string(Some(&format!(
                    "^\\s*({one})\\s*(,\\s*({one})\\s*)*$"
                ))),
            ));
        }
        for field in self.text_filters {
            out.push(query(
                &format!("filter[{field}]"),
                "One value or several separated by commas.",
                string(None),
            ));
        }
        for (fields, format, what) in [
            (self.time_ranges, KnownFormat::DateTime, "a timestamp (UTC when no zone is given) or a date"),
            (self.date_ranges, KnownFormat::Date, "a date `YYYY-MM-DD`"),
        ] {
            for field in fields {
                for op in ["gt", "gte", "lt", "lte"] {
                    out.push(query(
                        &format!("filter[{field}][{op}]"),
                        &format!("`{field}` {op} {what}."),
                        RefOr::T(Schema::Object(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .format(Some(SchemaFormat::KnownFormat(format.clone())))
                                .build(),
                        )),
                    ));
                }
            }
        }
        out
    }
}

fn query(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn integer(minimum: f64, maximum: f64) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(minimum))
            .maximum(Some(maximum))
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
        enum_filters: &[("provider", &["BookingCom", "AirBNB"]), ("is_closed", &["true", "false"])],
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
        text_filters: &["ota_name", "ota_reservation_code"],
        time_ranges: &bookings::TIME_RANGES,
        date_ranges: &bookings::DATE_RANGES,
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
        ..List::new()
    }
);
list_params!(
    ConsolePropertyListParams,
    List {
        order: &["inserted_at"],
        uuid_filters: &["user_id"],
        ..List::new()
    }
);
list_params!(
    ConsoleBookingListParams,
    List {
        order: &["inserted_at"],
        uuid_filters: &["property_id"],
        ..List::new()
    }
);
list_params!(
    ConsoleThreadListParams,
    List {
        order: &["last_message_received_at"],
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
                    .pattern(Some("^\\s*[0-9]{1,18}\\s*$"))
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
