//! Returns memory to the system when the daemon goes idle: a burst of API traffic
//! (builds, pulls, pushes, container churn, malformed requests) leaves freed memory in
//! the allocator; once no request has started or ended and no connection has been
//! accepted for [`QUIET`], the allocator is trimmed, once per burst.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

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
    resp.map(|inner| Body::new(Tracked { inner, activity }))
}

/// A response body that touches its [`Activity`] when dropped. Everything else is
/// the inner body's, the size hint too (hyper's Content-Length comes from it).
struct Tracked {
    inner: Body,
    activity: Arc<Activity>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.touch();
    }
}
