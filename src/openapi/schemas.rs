//! Schemas of the document that are not a view type: the envelopes around the views, the error
//! body, list `meta`, and the request bodies (which the handlers read field by field with
//! [`crate::http::fields::Fields`], so they have no struct of their own).

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::envelope::Relationship;
use crate::views::*;
use crate::webhooks::views::*;

/// The error body of every 4xx and 5xx answer (contract §4).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub errors: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `not_supported`, `validation_error`,
    /// `http_too_many_requests`, `request_timeout`, `service_unavailable`,
    /// `internal_server_error`.
    #[schema(example = "validation_error")]
    pub code: String,
    #[schema(example = "Validation Error")]
    pub title: String,
    /// Field (or parameter) name → messages; present on 400 and 422 answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!({"message": ["can't be blank"]}))]
    pub details: Option<BTreeMap<String, Vec<String>>>,
}

/// `meta` of a list (§5).
#[derive(Serialize, ToSchema)]
pub struct ListMeta {
    pub limit: u32,
    pub page: u64,
    pub total: i64,
    /// The field the list is ordered by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_direction: Option<OrderDirection>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// `{"meta": {"message": "Success"}}`
#[derive(Serialize, ToSchema)]
pub struct Success {
    pub meta: MessageMeta,
}

#[derive(Serialize, ToSchema)]
pub struct MessageMeta {
    #[schema(example = "Success")]
    pub message: String,
}

/// A resource object `{"id", "type", "attributes", "relationships"?}`, a single envelope
/// `{"data": resource}` and a list envelope `{"data": [...], "meta"}` for it.
macro_rules! resource {
    ($resource:ident, $single:ident, $list:ident, $kind:literal, $attributes:ty) => {
        resource!($resource, $single, $list, $kind, $attributes, Value);
    };
    ($resource:ident, $single:ident, $list:ident, $kind:literal, $attributes:ty, $relationships:ty) => {
        #[derive(Serialize, ToSchema)]
        pub struct $resource {
            pub id: Uuid,
            #[serde(rename = "type")]
            #[schema(example = $kind)]
            pub kind: String,
            pub attributes: $attributes,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub relationships: Option<$relationships>,
        }

        #[derive(Serialize, ToSchema)]
        pub struct $single {
            pub data: $resource,
        }

        #[derive(Serialize, ToSchema)]
        pub struct $list {
            pub data: Vec<$resource>,
            pub meta: ListMeta,
        }
    };
}

resource!(
    ThreadResource,
    ThreadData,
    ThreadList,
    "message_thread",
    ThreadAttributes,
    ThreadRelationships
);
resource!(
    MessageResource,
    MessageData,
    MessageList,
    "message",
    MessageAttributes,
    MessageRelationships
);
resource!(
    BookingResource,
    BookingData,
    BookingList,
    "booking",
    BookingAttributes,
    BookingRelationships
);
resource!(
    PropertyResource,
    PropertyData,
    PropertyList,
    "property",
    PropertyAttributes
);
resource!(
    ConsolePropertyResource,
    ConsolePropertyData,
    ConsolePropertyList,
    "property",
    ConsolePropertyAttributes
);
resource!(
    InstallationResource,
    InstallationData,
    InstallationList,
    "application_installation",
    InstallationAttributes
);
resource!(UserResource, UserData, UserList, "user", UserAttributes);
resource!(
    ApiKeyResource,
    ApiKeyData,
    ApiKeyList,
    "api_key",
    ApiKeyAttributes
);
resource!(
    OutboxResource,
    OutboxData,
    OutboxList,
    "outbox_entry",
    OutboxAttributes
);
resource!(
    EventResource,
    EventData,
    EventList,
    "event",
    EventAttributes
);
resource!(
    WebhookResource,
    WebhookData,
    WebhookList,
    "webhook",
    WebhookAttributes,
    WebhookRelationships
);
resource!(
    AttemptResource,
    AttemptData,
    AttemptList,
    "webhook_delivery_attempt",
    AttemptAttributes
);
resource!(
    DeliveryResource,
    DeliveryData,
    DeliveryList,
    "webhook_delivery",
    DeliveryAttributes
);

/// `{"data": {"id", "type": "attachment"}}`: the id to send with a message.
#[derive(Serialize, ToSchema)]
pub struct AttachmentData {
    pub data: AttachmentRef,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentRef {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "attachment")]
    pub kind: String,
}

/// `{"data": {"token"}, "meta": {"message"}}`
#[derive(Serialize, ToSchema)]
pub struct OneTimeTokenData {
    pub data: OneTimeToken,
    pub meta: MessageMeta,
}

#[derive(Serialize, ToSchema)]
pub struct OneTimeToken {
    /// `ott_…`: exchanged once at `/auth/exchange` for a chat session.
    pub token: String,
}

/// What the callback answered to a test event.
#[derive(Serialize, ToSchema)]
pub struct WebhookTestAnswer {
    /// The callback's status; null when it could not be reached.
    pub status_code: Option<u16>,
    /// The callback's body; null when it could not be reached.
    pub body: Option<String>,
    /// Why the call failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /admin/reset`: `{"meta"}`, plus the demo's key and ids with `?demo=true`.
#[derive(Serialize, ToSchema)]
pub struct ResetAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<ResetDemo>,
    pub meta: MessageMeta,
}

#[derive(Serialize, ToSchema)]
pub struct ResetDemo {
    pub api_key: String,
    pub user_id: Uuid,
    pub email: String,
    pub property_id: Uuid,
}

/// `GET /health` and `GET /ready`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /`: what this server is and where to go.
#[derive(Serialize, ToSchema)]
pub struct Index {
    pub name: String,
    pub version: String,
    pub description: String,
    /// `api`, `docs`, `openapi`, `chat`, `console`, `health`, `ready`, `metrics`.
    #[schema(value_type = Object)]
    pub links: Value,
}

// ---- request bodies -------------------------------------------------------------------------

/// A header or query parameter value: a string, a number or a boolean (sent as text).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Flag(bool),
}

/// A decimal amount: a string or a number.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Amount {
    #[schema(example = "240.00")]
    Text(String),
    Number(f64),
}

/// `{"property": {...}}`
#[derive(Serialize, ToSchema)]
pub struct PropertyCreate {
    pub property: PropertyFields,
}

#[derive(Serialize, ToSchema)]
pub struct PropertyFields {
    #[schema(min_length = 1, max_length = 255, pattern = r"\S")]
    pub title: String,
    /// ISO 4217 code, three letters.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// IANA time zone name.
    #[schema(example = "Europe/Lisbon")]
    pub timezone: Option<String>,
}

/// `{"application_installation": {...}}`
#[derive(Serialize, ToSchema)]
pub struct InstallationCreate {
    pub application_installation: InstallationFields,
}

#[derive(Serialize, ToSchema)]
pub struct InstallationFields {
    pub property_id: Uuid,
    #[schema(example = "channex_messages")]
    pub application_code: String,
}

/// `{"attachment": {...}}`
#[derive(Serialize, ToSchema)]
pub struct AttachmentUpload {
    pub attachment: AttachmentFields,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentFields {
    /// The file, base64 (standard alphabet, padding optional).
    #[schema(format = Byte)]
    pub file: String,
    #[schema(example = "photo.jpg")]
    pub file_name: String,
    #[schema(example = "image/jpeg")]
    pub file_type: String,
}

/// `{"message": {...}}`: a text, an uploaded attachment, or both.
#[derive(Serialize, ToSchema)]
pub struct MessageCreate {
    pub message: MessageFields,
}

#[derive(Serialize, ToSchema)]
pub struct MessageFields {
    pub message: Option<String>,
    /// The id answered by `POST /api/v1/attachments`.
    pub attachment_id: Option<Uuid>,
}

/// `{"one_time_token": {...}}`
#[derive(Serialize, ToSchema)]
pub struct OneTimeTokenCreate {
    pub one_time_token: OneTimeTokenFields,
}

#[derive(Serialize, ToSchema)]
pub struct OneTimeTokenFields {
    pub property_id: Uuid,
    pub group_id: Option<Uuid>,
    /// Shown as the author of the messages sent in the chat.
    pub username: String,
}

/// `{"webhook": {...}}`; on update any subset of the fields (null clears an optional one).
#[derive(Serialize, ToSchema)]
pub struct WebhookWrite {
    pub webhook: WebhookFields,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookFields {
    /// http(s) URL the events are POSTed to.
    #[schema(example = "https://pms.example.com/hooks/ota-inbox")]
    pub callback_url: Option<String>,
    /// `*` or a `;`-separated list of event names.
    #[schema(example = "message;message_thread_updated")]
    pub event_mask: Option<String>,
    pub property_id: Option<Uuid>,
    /// Extra request headers, name → value.
    pub headers: Option<BTreeMap<String, Scalar>>,
    /// Extra query parameters, name → value.
    pub request_params: Option<BTreeMap<String, Scalar>>,
    pub is_active: Option<bool>,
    pub send_data: Option<bool>,
    pub is_global: Option<bool>,
    pub protected: Option<bool>,
    /// HMAC-SHA256 secret of the `X-Ota-Inbox-Signature` header, at least 16 characters.
    pub signing_secret: Option<String>,
}

/// `{"webhook": {...}}` for `POST /webhooks/{id}/test`: overrides of the stored webhook.
#[derive(Serialize, ToSchema)]
pub struct WebhookTestOverrides {
    pub webhook: Option<WebhookOverrideFields>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookOverrideFields {
    pub callback_url: Option<String>,
    pub headers: Option<BTreeMap<String, Scalar>>,
    pub request_params: Option<BTreeMap<String, Scalar>>,
}

/// `{"user": {...}}`
#[derive(Serialize, ToSchema)]
pub struct UserCreate {
    pub user: UserFields,
}

#[derive(Serialize, ToSchema)]
pub struct UserFields {
    #[schema(example = "owner@example.com")]
    pub email: String,
    pub name: Option<String>,
}

/// `{"api_key": {...}}`
#[derive(Serialize, ToSchema)]
pub struct ApiKeyCreate {
    pub api_key: ApiKeyFields,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyFields {
    pub user_id: Uuid,
    /// The properties the key may see; absent or null: all of the user's.
    pub property_ids: Option<Vec<Uuid>>,
}

/// `{"booking": {...}}`
#[derive(Serialize, ToSchema)]
pub struct BookingCreate {
    pub booking: BookingFields,
}

#[derive(Serialize, ToSchema)]
pub struct BookingFields {
    pub property_id: Uuid,
    #[schema(example = "BookingCom")]
    pub ota_name: String,
    pub ota_reservation_code: Option<String>,
    pub arrival_date: chrono::NaiveDate,
    pub departure_date: chrono::NaiveDate,
    pub customer: BookingCustomer,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// A decimal, as a string or a number.
    pub amount: Option<Amount>,
    pub occupancy: Option<BookingOccupancy>,
    pub notes: Option<String>,
    pub ota_message_thread_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BookingCustomer {
    pub name: String,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BookingOccupancy {
    #[schema(minimum = 0, maximum = 100)]
    pub adults: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub children: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub infants: Option<i64>,
}

/// `{"message": {...}}`: what the guest writes.
#[derive(Serialize, ToSchema)]
pub struct GuestMessageCreate {
    pub message: GuestMessageFields,
}

#[derive(Serialize, ToSchema)]
pub struct GuestMessageFields {
    pub message: Option<String>,
    /// The OTA's id of the message: a message already stored with it is answered again (200).
    pub ota_message_id: Option<String>,
    /// The author's name.
    pub name: Option<String>,
    /// The author's role.
    pub role: Option<String>,
    /// Files sent with the message.
    pub attachments: Option<Vec<AttachmentFields>>,
}

/// `{"inquiry": {...}}`
#[derive(Serialize, ToSchema)]
pub struct InquiryCreate {
    pub inquiry: InquiryFields,
}

#[derive(Serialize, ToSchema)]
pub struct InquiryFields {
    pub property_id: Uuid,
    pub guest_name: String,
    pub checkin_date: chrono::NaiveDate,
    pub checkout_date: chrono::NaiveDate,
    #[schema(minimum = 0, maximum = 100)]
    pub number_of_adults: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub number_of_children: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub number_of_infants: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub number_of_pets: Option<i64>,
    pub currency: Option<String>,
    pub expected_payout_amount_accurate: Option<Amount>,
    pub listing_id: Option<String>,
    pub listing_name: Option<String>,
    pub room_type_id: Option<Uuid>,
    pub ota_message_thread_id: Option<String>,
    /// The guest's first message.
    pub message: Option<String>,
}

/// `{"booking_id"}`
#[derive(Serialize, ToSchema)]
pub struct AssignBooking {
    pub booking_id: Uuid,
}

/// `Relationship` is used by the view types; listed so the document names it once.
pub type RelationshipSchema = Relationship;
