//! Scripts of hostile servers for the fake of `fake_server`, per platform: what the
//! platforms × anomalies matrix (`hostile_servers`) and the measuring bench
//! (`benches/hostile.rs`) install on the proxy in front of each simulator.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::Method;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::fake_server::*;

pub const SEARCH: &str = "/api/meta/search/indexsearch";
pub const BULK: &str = "/api/meta/entity/bulk";
pub const APIKEYS: &str = "/api/service/apikeys";
pub const IDENTITIES: &str = "/api/v1/Tenants/*/AutomationIdentities";
pub const IDENTITY: &str = "/api/v1/Tenants/*/AutomationIdentities/*";
pub const TOKENS: &str = "/api/v1/orgs/*/apitokens";
pub const TOKEN: &str = "/api/v1/orgs/*/apitokens/*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Atlan,
    Connect,
    Mist,
}

pub const PLATFORMS: [Platform; 3] = [Platform::Atlan, Platform::Connect, Platform::Mist];

impl Platform {
    /// The listing every plan reads.
    pub fn list(self) -> (Method, &'static str) {
        match self {
            Platform::Atlan => (Method::POST, SEARCH),
            Platform::Connect => (Method::GET, IDENTITIES),
            Platform::Mist => (Method::GET, TOKENS),
        }
    }

    /// The object of the example world a plan updates (with the Mist token that gains a
    /// privilege in `hostile_servers`).
    pub fn updated(self) -> &'static str {
        match self {
            Platform::Atlan => "snowflake-prod",
            Platform::Connect => "asset-rule-runner",
            Platform::Mist => "monitoring-ro",
        }
    }

    /// The platform's name of the managed list field of the updated object.
    pub fn list_field(self) -> &'static str {
        match self {
            Platform::Atlan => "adminUsers",
            Platform::Connect => "RoleIds",
            Platform::Mist => "privileges",
        }
    }
}

/// How a list field is made unknown.
#[derive(Debug, Clone, Copy)]
pub enum Unknown {
    Missing,
    Null,
    WrongType,
}

impl Unknown {
    pub const ALL: [Unknown; 3] = [Unknown::Missing, Unknown::Null, Unknown::WrongType];

    pub fn apply(self, object: &mut Value, field: &str) {
        let map = object.as_object_mut().expect("an object");
        match self {
            Unknown::Missing => {
                map.remove(field);
            }
            Unknown::Null => {
                map.insert(field.into(), Value::Null);
            }
            Unknown::WrongType => {
                map.insert(field.into(), json!("admin"));
            }
        }
    }

    /// What the conflict says.
    pub fn says(self) -> &'static str {
        match self {
            Unknown::Missing => "is missing",
            Unknown::Null => "is null",
            Unknown::WrongType => "is a string instead of a list",
        }
    }
}

/// Makes the managed list of `platform`'s updated object unknown in every list response.
pub fn unknown_list_in_listing(fake: &FakeServer, platform: Platform, how: Unknown) {
    let (method, route) = platform.list();
    let name = platform.updated();
    let field = platform.list_field();
    fake.on(
        method,
        route,
        rewrite_json(move |_, body| {
            let items = match platform {
                Platform::Atlan => body["entities"].as_array_mut(),
                Platform::Connect | Platform::Mist => body.as_array_mut(),
            };
            for item in items.into_iter().flatten() {
                match platform {
                    Platform::Atlan if item["attributes"]["name"] == name => {
                        how.apply(&mut item["attributes"], field)
                    }
                    Platform::Connect if item["Name"] == name => how.apply(item, field),
                    Platform::Mist if item["name"] == name => how.apply(item, field),
                    _ => {}
                }
            }
        }),
    );
}

/// Makes every page of `platform`'s listing hold at most one item (the server caps the page
/// size), then lets `then` change each page: `(request, page number from 1, answer)`.
pub fn one_per_page(
    fake: &FakeServer,
    platform: Platform,
    then: impl Fn(&Exchange, u64, &mut Upstream) + Send + Sync + 'static,
) {
    pages_of_one(fake, platform, false, then);
}

/// The server ignores where the client asked to start: page 1, of one item, every time.
pub fn repeated_page(fake: &FakeServer, platform: Platform) {
    pages_of_one(fake, platform, true, |_, _, _| {});
}

/// Pages of one item each, from where the client asked or (`restart`) from the first item
/// every time; `then` changes each answer.
fn pages_of_one(
    fake: &FakeServer,
    platform: Platform,
    restart: bool,
    then: impl Fn(&Exchange, u64, &mut Upstream) + Send + Sync + 'static,
) {
    let (method, route) = platform.list();
    fake.on(
        method,
        route,
        rewrite_forward(
            move |request| match platform {
                Platform::Atlan => {
                    let mut body = request.json();
                    body["dsl"]["size"] = json!(1);
                    if restart {
                        body["dsl"]["from"] = json!(0);
                    }
                    request.set_json(&body);
                }
                Platform::Connect => {
                    request.set_query("count", 1);
                    if restart {
                        request.set_query("skip", 0);
                    }
                }
                Platform::Mist => {
                    request.set_query("limit", 1);
                    if restart {
                        request.set_query("page", 1);
                    }
                }
            },
            move |request, answer| {
                let page = match platform {
                    Platform::Atlan => request.json()["dsl"]["from"].as_u64().unwrap_or(0) + 1,
                    Platform::Connect => {
                        request
                            .query_value("skip")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0)
                            + 1
                    }
                    Platform::Mist => request
                        .query_value("page")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1),
                };
                then(request, page, answer)
            },
        ),
    );
}

/// The items of a listing answer.
pub fn items(platform: Platform, answer: &mut Value) -> &mut Vec<Value> {
    match platform {
        Platform::Atlan => answer["entities"].as_array_mut().expect("entities"),
        Platform::Connect | Platform::Mist => answer.as_array_mut().expect("a list"),
    }
}

/// A listing answer of `n` made-up items, none of them seen before.
pub fn made_up(platform: Platform, first: u64, n: u64) -> Value {
    let items: Vec<Value> = (first..first + n)
        .map(|i| match platform {
            Platform::Atlan => json!({
                "typeName": "Connection",
                "guid": format!("ffffffff-0000-4000-8000-{i:012}"),
                "attributes": {"qualifiedName": format!("default/fake/{i}"), "name": format!("fake-{i}"),
                               "adminUsers": [], "adminGroups": [], "adminRoles": []}
            }),
            Platform::Connect => json!({
                "Id": format!("ffffffff-0000-4000-8000-{i:012}"),
                "Name": format!("fake-{i}"), "RoleIds": [], "Tags": []
            }),
            Platform::Mist => json!({
                "id": format!("ffffffff-0000-4000-8000-{i:012}"),
                "name": format!("fake-{i}"), "privileges": [{"role": "read", "scope": "org"}]
            }),
        })
        .collect();
    match platform {
        Platform::Atlan => json!({"entities": items}),
        Platform::Connect | Platform::Mist => Value::Array(items),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    OneMore,
    OneLess,
    Absurd,
}

impl Lie {
    pub fn tell(self, platform: Platform, answer: &mut Upstream) {
        let told = |real: u64| match self {
            Lie::OneMore => real + 1,
            Lie::OneLess => real.saturating_sub(1),
            Lie::Absurd => 1_000_000_000_000_000,
        };
        match platform {
            Platform::Atlan => {
                let mut body = answer.json();
                let real = body["approximateCount"].as_u64().unwrap();
                body["approximateCount"] = json!(told(real));
                answer.set_json(&body);
            }
            Platform::Connect => {
                let real: u64 = answer.header("total-count").unwrap().parse().unwrap();
                answer.set_header("total-count", told(real));
            }
            Platform::Mist => {
                let real: u64 = answer.header("x-page-total").unwrap().parse().unwrap();
                answer.set_header("x-page-total", told(real));
            }
        }
    }
}

impl Lie {
    /// Installs the lie on `platform`'s listing. Mist states a total only when it pages, so
    /// its tokens come one per page.
    pub fn tell_on(self, fake: &FakeServer, platform: Platform) {
        match platform {
            Platform::Mist => one_per_page(fake, platform, move |_, _, answer| {
                self.tell(platform, answer)
            }),
            Platform::Atlan | Platform::Connect => {
                let (method, route) = platform.list();
                fake.on(
                    method,
                    route,
                    rewrite(move |_, answer| self.tell(platform, answer)),
                );
            }
        }
    }
}
/// Answers every write of `platform` with an echo of the request and stores nothing.
pub fn echo_writes(fake: &FakeServer, platform: Platform) {
    match platform {
        Platform::Atlan => fake.on(
            Method::POST,
            BULK,
            answer_json(|request| {
                let mut entities = request.json()["entities"].clone();
                for e in entities.as_array_mut().into_iter().flatten() {
                    e["guid"] = json!("11111111-2222-4333-8444-555555555555");
                }
                json!({"mutatedEntities": {"UPDATE": entities}, "guidAssignments": {}})
            }),
        ),
        Platform::Connect => {
            fake.on(Method::PUT, IDENTITY, echo("Id", path_id, json!({})));
            fake.on(Method::POST, IDENTITIES, echo("Id", new_id, json!({})));
        }
        Platform::Mist => {
            fake.on(Method::PUT, TOKEN, echo("id", path_id, json!({})));
            fake.on(
                Method::POST,
                TOKENS,
                echo(
                    "id",
                    new_id,
                    json!({"key": "EchoedKeyOfATokenThatWasNeverStored"}),
                ),
            );
        }
    }
}

/// Answers with the request's own body, `id_key` set to what `id` makes of the request and
/// `extra` added: a write echoed, never stored.
fn echo(id_key: &'static str, id: fn(&Exchange) -> String, extra: Value) -> Handler {
    answer_json(move |request| {
        let mut body = request.json();
        body[id_key] = json!(id(request));
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    })
}

/// The id at the end of the request's path.
fn path_id(request: &Exchange) -> String {
    request
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn new_id(_: &Exchange) -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Page 2 of `platform`'s listing comes back empty although the server stated more.
pub fn short_page(fake: &FakeServer, platform: Platform) {
    one_per_page(fake, platform, move |_, page, answer| {
        if page >= 2 {
            let mut body = answer.json();
            items(platform, &mut body).clear();
            answer.set_json(&body);
        }
    });
}

/// Every page is full of new items and there is always more. With `stated: None` the
/// server states no count (Atlan, and CONNECT, whose HEAD states none either) or one that
/// keeps growing (Mist); with `Some(n)` it states `n` on every page, a total that fits the
/// page bound, so the listing walks up to the bound. Pages hold `per_page` items, or as many
/// as the client asked for (Mist: 100). Returns the number of distinct pages served.
pub fn endless_pages(
    fake: &FakeServer,
    platform: Platform,
    per_page: Option<u64>,
    stated: Option<u64>,
) -> Arc<AtomicU64> {
    let (method, route) = platform.list();
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    // Pages are counted by the position they ask for, not by request: a request retried
    // after a transport hiccup (it happens under CPU load) reads no further page.
    let positions = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let next_page = Arc::new(AtomicU64::new(0));
    fake.on(
        method,
        route,
        Arc::new(move |exchange| {
            let page = next_page.fetch_add(1, Ordering::SeqCst);
            let position = match platform {
                Platform::Atlan => exchange.json()["dsl"]["from"].to_string(),
                Platform::Connect => exchange.query_value("skip").unwrap_or_default().to_string(),
                Platform::Mist => exchange.query_value("page").unwrap_or_default().to_string(),
            };
            if let Ok(mut seen) = positions.lock() {
                seen.insert(position);
                counter.store(seen.len() as u64, Ordering::SeqCst);
            }
            let asked = match platform {
                Platform::Atlan => exchange.json()["dsl"]["size"].as_u64(),
                Platform::Connect => exchange.query_value("count").and_then(|c| c.parse().ok()),
                Platform::Mist => None,
            };
            let size = per_page.or(asked).unwrap_or(100);
            let mut body = made_up(platform, page * size, size);
            if let (Platform::Atlan, Some(n)) = (platform, stated) {
                body["approximateCount"] = json!(n);
            }
            let mut response = axum::Json(body).into_response();
            let headers = response.headers_mut();
            match (platform, stated) {
                (Platform::Mist, _) => {
                    let total = stated.unwrap_or((page + 2) * size);
                    headers.insert("x-page-total", total.into());
                    headers.insert("x-page-limit", size.into());
                    headers.insert("x-page-page", (page + 1).into());
                }
                (Platform::Connect, Some(n)) => {
                    headers.insert("total-count", n.into());
                }
                _ => {}
            }
            Box::pin(async move { response })
        }),
    );
    if platform == Platform::Connect && stated.is_none() {
        fake.on(Method::HEAD, IDENTITIES, answer(200, &[], ""));
    }
    served
}

/// `platform`'s listing answers with a body that never ends.
pub fn oversized_body(fake: &FakeServer, platform: Platform) {
    let (method, route) = platform.list();
    fake.on(method, route, endless_body());
}

/// `platform`'s listing answers one byte every `every`, forever.
pub fn drip_listing(fake: &FakeServer, platform: Platform, every: Duration) {
    let (method, route) = platform.list();
    fake.on(method, route, drip(every));
}

/// `platform`'s listing answers 429 with the largest `Retry-After` there is.
pub fn retry_after_forever(fake: &FakeServer, platform: Platform) {
    let (method, route) = platform.list();
    fake.on(
        method,
        route,
        answer(
            429,
            &[("Retry-After", "18446744073709551615")],
            r#"{"detail": "slow down"}"#,
        ),
    );
}
