//! Output throughput through the shim into the log (root only; prints a measurement).

mod common;

use std::time::{Duration, Instant};

use common::{base_spec, Ctr, Rt};

#[tokio::test]
async fn many_lines_reach_the_log() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(
        dir.path(),
        &["sh", "-c", "yes hello-world | head -n 200000"],
    );
    let c = Ctr::create(Rt::Runc, dir, spec, false, None).await;
    let t0 = Instant::now();
    c.client.start().await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(60), c.client.wait())
        .await
        .unwrap()
        .unwrap();
    let el = t0.elapsed();
    assert_eq!(e.exit_code, 0);
    let log = c.log_text();
    assert_eq!(log.lines().count(), 200000);
    assert!(log
        .lines()
        .all(|l| l.starts_with(r#"{"log":"hello-world\n","stream":"stdout","time":""#)));
    eprintln!("MEASURE 200000 lines through the shim into the log: {el:?}");
}
