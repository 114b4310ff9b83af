//! The error responses a whole class of operations shares, declared once here rather than on
//! every handler: each operation that has a body can answer 400, 413, 415 and 422 for it, each
//! that takes a credential 401, 429 and 503, each with a path id 404, each with a query string
//! 422, every one 500. [`SharedResponses`] adds them to the document after the routes are collected:
//! as a reference to the one declaration when the operation declares nothing for that status,
//! else as a sentence appended to the operation's own description (when it does not name the
//! code already). Handlers declare only what is particular to them (a 404's own code, 409s,
//! their 422 codes) and which 403 applies ([`AdminRequired`], [`OrganizationKeyRequired`]).

use utoipa::{
    Modify, ToResponse,
    openapi::{
        ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder,
        path::{Operation, ParameterIn},
        schema::{ObjectBuilder, Type},
    },
};

const PROBLEM: &str = "application/problem+json";

/// One class of error response: which operations have it and what it says.
struct Class {
    status: &'static str,
    /// Its name under `components/responses`.
    name: &'static str,
    /// Each code the class answers with and the sentence saying when.
    codes: &'static [(&'static str, &'static str)],
    /// Response headers and what they say.
    headers: &'static [(&'static str, &'static str)],
    applies: fn(&Operation) -> bool,
}

const CLASSES: &[Class] = &[
    Class {
        status: "400",
        name: "MalformedJson",
        codes: &[(
            "MALFORMED_JSON",
            "`MALFORMED_JSON`: the body is not valid JSON.",
        )],
        headers: &[],
        applies: has_body,
    },
    Class {
        status: "401",
        name: "Unauthorized",
        codes: &[(
            "UNAUTHORIZED",
            "`UNAUTHORIZED`: no credential, or one that is malformed or unknown.",
        )],
        headers: &[("WWW-Authenticate", "`Bearer`.")],
        applies: has_credential,
    },
    Class {
        status: "404",
        name: "NotFound",
        codes: &[(
            "NOT_FOUND",
            "`NOT_FOUND`: a path segment that names nothing, such as an id that is not a UUID.",
        )],
        headers: &[],
        applies: has_path_parameters,
    },
    Class {
        status: "413",
        name: "BodyTooLarge",
        codes: &[(
            "BODY_TOO_LARGE",
            "`BODY_TOO_LARGE` (with `limit_bytes`): the body is over the limit \
             (`API_BODY_LIMIT_BYTES`, 64 KiB by default).",
        )],
        headers: &[],
        applies: has_body,
    },
    Class {
        status: "415",
        name: "UnsupportedMediaType",
        codes: &[(
            "UNSUPPORTED_MEDIA_TYPE",
            "`UNSUPPORTED_MEDIA_TYPE`: a body whose `Content-Type` is not `application/json`.",
        )],
        headers: &[],
        applies: has_body,
    },
    Class {
        status: "422",
        name: "InvalidBody",
        codes: &[
            (
                "BODY_NOT_OBJECT",
                "`BODY_NOT_OBJECT`: the body is JSON but not an object (an array, a string, \
                 `null` ...).",
            ),
            (
                "VALIDATION_FAILED",
                "`VALIDATION_FAILED` (with `field`): a member missing, unknown, repeated or of \
                 the wrong type.",
            ),
        ],
        headers: &[],
        applies: has_body,
    },
    Class {
        status: "422",
        name: "InvalidQuery",
        codes: &[(
            "VALIDATION_FAILED",
            "`VALIDATION_FAILED` (with `field`): an unknown or repeated query parameter. A \
             parameter given with an empty value is refused with that parameter's own code.",
        )],
        headers: &[],
        applies: has_query_parameters,
    },
    Class {
        status: "429",
        name: "RateLimited",
        codes: &[(
            "RATE_LIMITED",
            "`RATE_LIMITED` (with `retry_after_secs` and `Retry-After`): the organization API \
             key's request budget is spent (`API_RATE_LIMIT_PER_SECOND`, \
             `API_RATE_LIMIT_BURST`); nothing was done: retry after that many seconds. The \
             admin token is not limited.",
        )],
        headers: &[(
            "Retry-After",
            "Whole seconds, rounded up, until the key may make another request.",
        )],
        applies: has_credential,
    },
    Class {
        status: "500",
        name: "Internal",
        codes: &[(
            "INTERNAL",
            "`INTERNAL`: an unexpected error; the body says nothing about it, the server's log \
             does.",
        )],
        headers: &[],
        applies: always,
    },
    Class {
        status: "503",
        name: "Unavailable",
        codes: &[(
            "SERVICE_UNAVAILABLE",
            "`SERVICE_UNAVAILABLE` (with `Retry-After`): the database cannot be reached or the \
             connection to it was lost; retry (a request that moves money with the same \
             reference: it is applied once).",
        )],
        headers: &[("Retry-After", "Seconds to wait before retrying.")],
        applies: has_credential,
    },
];

fn has_body(operation: &Operation) -> bool {
    operation.request_body.is_some()
}

fn has_credential(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty())
}

fn has_parameter_in(operation: &Operation, place: &ParameterIn) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|parameter| &parameter.parameter_in == place)
}

fn has_path_parameters(operation: &Operation) -> bool {
    has_parameter_in(operation, &ParameterIn::Path)
}

fn has_query_parameters(operation: &Operation) -> bool {
    has_parameter_in(operation, &ParameterIn::Query)
}

fn always(_: &Operation) -> bool {
    true
}

/// A problem+json response with `headers`.
fn problem_response(description: &str, headers: &[(&str, &str)]) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ProblemBody")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM, content);
    for (name, description) in headers {
        let header = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(*description))
            .build();
        response = response.header(*name, header);
    }
    response.build()
}

fn class_description(class: &Class) -> String {
    let sentences: Vec<&str> = class.codes.iter().map(|(_, sentence)| *sentence).collect();
    sentences.join(" ")
}

/// Adds the shared error responses to every operation they apply to (see the module docs).
pub struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for class in CLASSES {
            components.responses.insert(
                class.name.to_owned(),
                RefOr::T(problem_response(&class_description(class), class.headers)),
            );
        }
        for (name, response) in [
            AdminRequired::response(),
            OrganizationKeyRequired::response(),
        ] {
            components.responses.insert(name.to_owned(), response);
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared(operation);
            }
        }
    }
}

fn add_shared(operation: &mut Operation) {
    let applicable: Vec<&Class> = CLASSES
        .iter()
        .filter(|class| (class.applies)(operation))
        .collect();
    let mut statuses: Vec<&str> = applicable.iter().map(|class| class.status).collect();
    statuses.dedup();
    for status in statuses {
        let classes: Vec<&Class> = applicable
            .iter()
            .copied()
            .filter(|class| class.status == status)
            .collect();
        let responses = &mut operation.responses.responses;
        match responses.get_mut(status) {
            None => {
                let response = match classes.as_slice() {
                    [class] => RefOr::Ref(Ref::from_response_name(class.name)),
                    several => {
                        let description: Vec<String> = several
                            .iter()
                            .map(|class| class_description(class))
                            .collect();
                        let headers: Vec<(&str, &str)> = several
                            .iter()
                            .flat_map(|class| class.headers.iter().copied())
                            .collect();
                        RefOr::T(problem_response(&description.join(" "), &headers))
                    }
                };
                responses.insert(status.to_owned(), response);
            }
            Some(RefOr::T(own)) => {
                for class in &classes {
                    for (code, sentence) in class.codes {
                        if !own.description.contains(&format!("`{code}`")) {
                            own.description.push(' ');
                            own.description.push_str(sentence);
                        }
                    }
                    for (name, description) in class.headers {
                        own.headers.entry((*name).to_owned()).or_insert_with(|| {
                            HeaderBuilder::new()
                                .schema(ObjectBuilder::new().schema_type(Type::String))
                                .description(Some(*description))
                                .build()
                        });
                    }
                }
            }
            // Already a shared response (a 403 class, say): it says what it says.
            Some(RefOr::Ref(_)) => {}
        }
    }
}

/// 403 `ADMIN_REQUIRED`: the operation needs the admin credential. Use as
/// `(status = 403, response = AdminRequired)`.
pub struct AdminRequired;

impl<'r> ToResponse<'r> for AdminRequired {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "AdminRequired",
            RefOr::T(problem_response(
                "`ADMIN_REQUIRED`: an organization key; this operation needs the admin \
                 credential.",
                &[],
            )),
        )
    }
}

/// 403 `ORGANIZATION_KEY_REQUIRED`: the operation acts on the caller's own organization, and
/// the admin credential has none. Use as `(status = 403, response = OrganizationKeyRequired)`.
pub struct OrganizationKeyRequired;

impl<'r> ToResponse<'r> for OrganizationKeyRequired {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "OrganizationKeyRequired",
            RefOr::T(problem_response(
                "`ORGANIZATION_KEY_REQUIRED`: the admin credential, which belongs to no \
                 organization; use an organization key (the admin uses \
                 `/v1/admin/organizations/{organization_id}/...`).",
                &[],
            )),
        )
    }
}
