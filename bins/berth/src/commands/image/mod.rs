//! Image commands: images, image inspect, tag, rmi, history, prune, import,
//! load, save, pull, push, build.

mod archive;
mod build;
mod list;
mod pull_push;
mod remove;
mod stream;

pub use archive::*;
pub use build::*;
pub use list::*;
pub use pull_push::*;
pub use remove::*;
pub use stream::*;

/// Splits `repo:tag` or `repo@digest` into the repository and the tag or digest.
fn split_ref(r: &str) -> (String, String) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_string(), d.to_string());
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    match last.rfind(':') {
        Some(i) => {
            let cut = r.len() - last.len() + i;
            (r[..cut].to_string(), r[cut + 1..].to_string())
        }
        None => (r.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(split_ref("busybox"), ("busybox".into(), "".into()));
        assert_eq!(split_ref("busybox:1"), ("busybox".into(), "1".into()));
        assert_eq!(
            split_ref("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), "".into())
        );
        assert_eq!(
            split_ref("localhost:5000/a:t"),
            ("localhost:5000/a".into(), "t".into())
        );
        assert_eq!(split_ref("a@sha256:00"), ("a".into(), "sha256:00".into()));
    }
}
