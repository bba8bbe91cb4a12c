//! Image endpoints. Image names contain slashes (`host:5000/a/b:tag`), so
//! `/images/{name}/...` is matched by suffix, as moby's `{name:.*}` routes do.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use tokio_util::io::StreamReader;

use crate::backend::{BodyReader, ImportOptions};
use crate::error::ApiError;
use crate::query::Query;
use crate::stream::json_line;
use crate::AppState;

fn body_reader(body: Body) -> BodyReader {
    Box::new(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ))
}

fn json_stream_response(lines: Vec<serde_json::Value>) -> Response {
    let body: Vec<u8> = lines.iter().flat_map(|l| json_line(l).to_vec()).collect();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub async fn list(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let mut filters = q.filters()?;
    // Legacy `filter=<reference>` parameter.
    if let Some(f) = q.string("filter") {
        filters.entry("reference".into()).or_default().push(f);
    }
    Ok(Json(b.image_list(q.bool("all")?, filters).await?).into_response())
}

/// `POST /images/create`: `fromSrc` imports a tarball (`-` = the request body);
/// `fromImage` pulls from a registry (not yet).
pub async fn create(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    if let Some(src) = q.string("fromSrc") {
        if src != "-" {
            return Err(ApiError::not_implemented(format!(
                "importing from a URL ({src}) is not implemented by Berth yet: download the file and import it from stdin"
            )));
        }
        let opts = ImportOptions {
            repo: q.string("repo"),
            tag: q.string("tag"),
            changes: q
                .all("changes")
                .into_iter()
                .filter(|c| !c.is_empty())
                .collect(),
            message: q.string("message"),
            platform: q.string("platform"),
        };
        let id = b.image_import(body_reader(req.into_body()), opts).await?;
        return Ok(json_stream_response(vec![
            serde_json::json!({ "status": id }),
        ]));
    }
    if let Some(image) = q.string("fromImage") {
        return Err(ApiError::not_implemented(format!(
            "pulling {image} from a registry is not implemented by Berth yet: load the image with `berth load` or `berth import`"
        )));
    }
    Err(ApiError::invalid(
        "either fromSrc or fromImage must be given",
    ))
}

pub async fn load(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let _quiet = q.bool("quiet")?;
    let names = b.image_load(body_reader(req.into_body())).await?;
    let lines = names
        .into_iter()
        .map(|n| {
            let text = if n.starts_with("sha256:") {
                format!("Loaded image ID: {n}\n")
            } else {
                format!("Loaded image: {n}\n")
            };
            serde_json::json!({ "stream": text })
        })
        .collect();
    Ok(json_stream_response(lines))
}

async fn save(b: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid("no image names given to save"));
    }
    let stream = b.image_save(names).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

pub async fn save_many(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    save(b, q.all("names")).await
}

pub async fn prune(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.image_prune(q.filters()?).await?).into_response())
}

/// `/images/{name}`, `/images/{name}/json`, `/history`, `/tag`, `/get`, `/push`.
pub async fn dispatch(
    State(b): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let split = rest.rsplit_once('/');
    match (&method, split) {
        (&Method::GET, Some((name, "json"))) => {
            Ok(Json(b.image_inspect(name).await?).into_response())
        }
        (&Method::GET, Some((name, "history"))) => {
            Ok(Json(b.image_history(name).await?).into_response())
        }
        (&Method::GET, Some((name, "get"))) => save(b, vec![name.to_string()]).await,
        (&Method::POST, Some((name, "tag"))) => {
            let repo = q
                .string("repo")
                .ok_or_else(|| ApiError::invalid("repository name (repo) is required"))?;
            b.image_tag(name, &repo, q.string("tag").as_deref()).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (&Method::POST, Some((name, "push"))) => Err(ApiError::not_implemented(format!(
            "pushing {name} to a registry is not implemented by Berth yet"
        ))),
        (&Method::DELETE, _) => {
            let items = b
                .image_remove(&rest, q.bool("force")?, q.bool("noprune")?)
                .await?;
            Ok(Json(items).into_response())
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}
