//! How the payment routes appear in the gateway's OpenAPI document ([`RouteDocs`]): each route's operation,
//! parameters and answer, and the schemas of the types they read and answer ([`Payment`] and the `NewPayment`
//! body `routes` deserializes).

use gatehouse_kit::domain::Payment;
use gatehouse_kit::openapi::{RouteDoc, RouteDocs};
use http::{Method, StatusCode};
use utoipa::ToSchema;

use crate::routes::{NewPayment, PAYMENT, PAYMENT_CANCEL, PAYMENTS};

/// The docs of every route in `routes::ROUTES`.
pub(crate) fn docs() -> RouteDocs {
    let id = |doc: RouteDoc| doc.path_param("id", "The payment's id").not_found("payment");
    RouteDocs::new("Payments, through the Stripe adapter")
        .route(
            RouteDoc::new(Method::POST, PAYMENTS, "createPayment", "Create a payment")
                .body(NewPayment::name())
                .answers(StatusCode::CREATED, "Created", Payment::name())
                .invalid("`amount.value` is not positive or `amount.currency` is not three letters")
                .forwards_key("Stripe creates one payment per key"),
        )
        .route(
            id(RouteDoc::new(Method::GET, PAYMENT, "getPayment", "Get a payment"))
                .answers(StatusCode::OK, "The payment", Payment::name())
                .invalid("the `id` is not UTF-8 once decoded"),
        )
        .route(
            id(RouteDoc::new(
                Method::POST,
                PAYMENT_CANCEL,
                "cancelPayment",
                "Cancel a payment that has not succeeded",
            ))
            .answers(StatusCode::OK, "The cancelled payment", Payment::name())
            .invalid("a body other than none or `{}`")
            .forwards_key("Stripe cancels once per key"),
        )
        .schema::<Payment>()
        .schema::<NewPayment>()
}

#[cfg(test)]
mod tests {
    use gatehouse_kit::Adapter;

    use crate::Stripe;

    #[test]
    fn every_route_is_documented() {
        assert_eq!(Stripe.openapi().problems(Stripe.routes()), Vec::<String>::new());
    }
}
