//! How the customer routes appear in the gateway's OpenAPI document ([`RouteDocs`]): each route's operation,
//! parameters and answer, and the schemas of the types they read and answer ([`Customer`], a [`Page`] of them,
//! and the `NewCustomer` and `CustomerChanges` bodies `routes` deserializes).

use gatehouse_kit::domain::{Customer, Page};
use gatehouse_kit::openapi::{RouteDoc, RouteDocs};
use http::{Method, StatusCode};
use serde_json::json;
use utoipa::openapi::{Object, ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::routes::{CUSTOMER, CUSTOMERS, CustomerChanges, NewCustomer};

/// `Page<Customer>`'s name in the document.
const CUSTOMER_PAGE: &str = "CustomerPage";

/// The docs of every route in `routes::ROUTES`.
pub(crate) fn docs() -> RouteDocs {
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(100))
        .default(Some(json!(20)));
    let id = |doc: RouteDoc| doc.path_param("id", "The customer's id").not_found("customer");
    RouteDocs::new("Customers, through the Acme CRM adapter")
        .route(
            RouteDoc::new(Method::GET, CUSTOMERS, "listCustomers", "List customers")
                .query(
                    "limit",
                    "Page size; ignored with a `cursor`, which carries its own. Empty is the same as absent",
                    limit,
                )
                .query(
                    "cursor",
                    "`next_cursor` of the previous page; empty is the same as absent (the first page)",
                    ObjectBuilder::new().schema_type(Type::String),
                )
                .answers(StatusCode::OK, "One page of customers", CUSTOMER_PAGE)
                .invalid("`limit` is not 1 to 100, or `cursor` is not one this API issued"),
        )
        .route(
            RouteDoc::new(Method::POST, CUSTOMERS, "createCustomer", "Create a customer")
                .body(NewCustomer::name())
                .answers(StatusCode::CREATED, "Created", Customer::name())
                .invalid("the body is not `{\"name\",\"email\"}` with both non-empty")
                .forwards_key("Acme creates one customer per key"),
        )
        .route(
            id(RouteDoc::new(Method::GET, CUSTOMER, "getCustomer", "Get a customer"))
                .answers(StatusCode::OK, "The customer", Customer::name())
                .invalid("the `id` is not UTF-8 once decoded"),
        )
        .route(
            id(RouteDoc::new(
                Method::PATCH,
                CUSTOMER,
                "updateCustomer",
                "Change a customer's name or email",
            ))
            .body(CustomerChanges::name())
            .answers(StatusCode::OK, "The changed customer", Customer::name())
            .invalid("the body sets none of `name`, `email`, sets one to null or empty, or has other fields"),
        )
        .route(
            id(RouteDoc::new(
                Method::DELETE,
                CUSTOMER,
                "deleteCustomer",
                "Delete a customer",
            ))
            .answers_empty(StatusCode::NO_CONTENT, "Deleted")
            .invalid("a body was sent"),
        )
        .schema::<Customer>()
        .named(
            CUSTOMER_PAGE,
            object(Page::<Customer>::schema(), |page| {
                page.title = Some("Page<Customer>".to_owned());
                page.description =
                    Some("`Page<Customer>`: one page of a cursor-paginated list of customers.".to_owned());
            }),
        )
        .schema::<NewCustomer>()
        // utoipa-gen 5.5 writes `#[schema(min_properties = 1)]` as `maxProperties`.
        .named(
            CustomerChanges::name(),
            object(CustomerChanges::schema(), |changes| {
                changes.min_properties = Some(1);
            }),
        )
}

/// `schema`, changed by `change` when it is an object schema (derived schemas of structs are).
fn object(mut schema: RefOr<Schema>, change: impl FnOnce(&mut Object)) -> RefOr<Schema> {
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        change(object);
    }
    schema
}

#[cfg(test)]
mod tests {
    use gatehouse_kit::Adapter;

    use crate::AcmeCrm;

    #[test]
    fn every_route_is_documented() {
        assert_eq!(AcmeCrm.openapi().problems(AcmeCrm.routes()), Vec::<String>::new());
    }

    #[test]
    fn changes_set_at_least_one_field_and_none_null() {
        let docs = AcmeCrm.openapi();
        let schema = |wanted: &str| {
            let (_, schema) = docs.schemas.iter().find(|(name, _)| name == wanted).unwrap();
            serde_json::to_value(schema).unwrap()
        };
        assert_eq!(schema("CustomerPage")["title"], "Page<Customer>");
        let changes = schema("CustomerChanges");
        assert_eq!(changes["minProperties"], 1);
        assert!(changes.get("maxProperties").is_none());
        assert_eq!(changes["additionalProperties"], false);
        assert!(changes.get("required").is_none());
        assert_eq!(changes["properties"]["name"]["type"], "string");
    }
}
