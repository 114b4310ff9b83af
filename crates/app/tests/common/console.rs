//! A browser-like client of the console: keeps cookies itself (so tests can look at every flag
//! and forge or replay them), follows no redirects, and reads the hidden fields of forms.
//! Included with `#[path = "common/console.rs"] mod console;` by the console test binaries.

use reqwest::{Client, Response, StatusCode, header, redirect::Policy};

use crate::common::{ADMIN_TOKEN, TestApp};

pub struct Console {
    pub base: String,
    pub client: Client,
    /// `name=value` pairs the browser would send.
    pub cookies: Vec<(String, String)>,
}

/// A page as fetched: status, where it redirects, its HTML and the cookies it set.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub html: String,
}

impl Page {
    /// The value of the first hidden input named `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.html.find(&marker)? + marker.len();
        let end = self.html[start..].find('"')?;
        Some(self.html[start..start + end].to_owned())
    }

    /// The `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .map(String::as_str)
            .find(|line| line.starts_with(&format!("{name}=")))
    }
}

impl Console {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: Client::builder().redirect(Policy::none()).build().unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: Response) -> Page {
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !line.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Page {
            status,
            location,
            set_cookies,
            html: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts a form as the browser would (same origin), with exactly `fields`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(fields);
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Posts a form from another site: the headers a browser sends with a cross-site post.
    pub async fn post_from_elsewhere(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .header(header::ORIGIN, "https://attacker.example")
            .header("sec-fetch-site", "cross-site")
            .form(fields)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Signs in with an organization key through the real form; the response to the post.
    pub async fn sign_in(&mut self, api_key: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        let csrf = form.hidden("csrf").unwrap();
        self.post("/console/sign-in", &[("csrf", &csrf), ("api_key", api_key)])
            .await
    }

    /// Signs in as an operator with the test admin token.
    pub async fn sign_in_operator(&mut self, name: &str) -> Page {
        self.sign_in_operator_with(name, ADMIN_TOKEN).await
    }

    pub async fn sign_in_operator_with(&mut self, name: &str, token: &str) -> Page {
        let form = self.get("/console/operator/sign-in").await;
        let csrf = form.hidden("csrf").unwrap();
        self.post(
            "/console/operator/sign-in",
            &[("csrf", &csrf), ("operator", name), ("admin_token", token)],
        )
        .await
    }

    /// The CSRF token of a signed-in page (every page's sign-out form carries it).
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/console").await;
        let target = page.location.expect("a signed-in /console redirects");
        self.get(&target).await.hidden("csrf").unwrap()
    }
}
