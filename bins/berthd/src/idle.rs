//! Returns memory to the system when the daemon goes idle: a burst of API traffic
//! (builds, pulls, pushes, container churn, malformed requests) leaves freed memory in
//! the allocator; once no request has started or ended and no connection has been
//! accepted for [`QUIET`], the allocator is trimmed, once per burst.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// How long the API must be quiet before the allocator is trimmed.
pub const QUIET: Duration = Duration::from_secs(2);

/// Counts API activity and wakes the trimmer.
#[derive(Default)]
pub struct Activity {
    events: AtomicU64,
    wake: tokio::sync::Notify,
}

impl Activity {
    /// Something happened (a connection, a request started, a response ended).
    pub fn touch(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// For `tap_io`: an accepted connection is activity (a malformed request never
    /// reaches the middleware).
    pub fn on_accept<Io>(self: &Arc<Self>) -> impl FnMut(&mut Io) + Send + 'static {
        let me = self.clone();
        move |_| me.touch()
    }

    /// Trims the allocator after each burst of activity; runs forever.
    pub async fn trim_when_idle(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            loop {
                let seen = self.events.load(Ordering::Relaxed);
                tokio::time::sleep(QUIET).await;
                if self.events.load(Ordering::Relaxed) == seen {
                    break;
                }
            }
            // Takes the arena locks and walks the heaps: not on a worker thread.
            let _ = tokio::task::spawn_blocking(crate::malloc::trim).await;
        }
    }
}

/// Middleware: a request's start and the end of its response body (dropped when
/// sent or when the client went away) are activity. A long pull or build is seen
/// ending, not only starting.
pub async fn track(State(activity): State<Arc<Activity>>, req: Request, next: Next) -> Response {
    activity.touch();
    let resp = next.run(req).await;
    let done = Touch(activity);
    resp.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _ = &done;
            frame
        }))
    })
}

/// Touches its [`Activity`] when dropped.
struct Touch(Arc<Activity>);

impl Drop for Touch {
    fn drop(&mut self) {
        self.0.touch();
    }
}
