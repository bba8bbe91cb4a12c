//! No-op rebuild timing with a 5,000-file, ~50 MB context (run with
//! `cargo test -p builder --release --test bench -- --ignored --nocapture`).

mod fake;

use std::time::Instant;

use builder::{build, BuildContext, BuildOptions, Output};
use fake::Fake;

fn make_ctx(dir: &std::path::Path) {
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox AS deps\nRUN echo deps > /deps\nFROM busybox\nCOPY --from=deps /deps /deps\nWORKDIR /app\nCOPY . /app/\nRUN echo built > /app/out\nCMD [\"/app/out\"]\n",
    )
    .unwrap();
    let mut seed = 1u64;
    for d in 0..50 {
        let sub = dir.join(format!("src/d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            let mut data = vec![0u8; 10_000];
            for b in data.iter_mut() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (seed >> 56) as u8;
            }
            std::fs::write(sub.join(format!("f{f}.bin")), data).unwrap();
        }
    }
}

fn tar_of(dir: &std::path::Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn noop_rebuild_5000_files() {
    let dir = tempfile::tempdir().unwrap();
    make_ctx(dir.path());
    let fake = Fake::new();
    let hashes = tempfile::tempdir().unwrap();
    *fake.hash_dir.lock().unwrap() = Some(hashes.path().to_path_buf());
    let out = Output::discard();
    for round in 0..3 {
        let t = Instant::now();
        let r = build(
            fake.as_ref(),
            BuildContext::Dir(dir.path().to_path_buf()),
            BuildOptions::default(),
            &out,
        )
        .await
        .unwrap();
        println!(
            "dir context round {round}: {:?} ({})",
            t.elapsed(),
            r.image_id
        );
    }
    let raw = tar_of(dir.path());
    for round in 0..3 {
        let raw = raw.clone();
        let t = Instant::now();
        let r = build(
            fake.as_ref(),
            BuildContext::Tar(Box::new(std::io::Cursor::new(raw))),
            BuildOptions::default(),
            &out,
        )
        .await
        .unwrap();
        println!(
            "tar context round {round}: {:?} ({})",
            t.elapsed(),
            r.image_id
        );
    }
    // One file changed.
    std::fs::write(dir.path().join("src/d3/f7.bin"), b"changed").unwrap();
    let t = Instant::now();
    build(
        fake.as_ref(),
        BuildContext::Dir(dir.path().to_path_buf()),
        BuildOptions::default(),
        &out,
    )
    .await
    .unwrap();
    println!("dir context, one file changed: {:?}", t.elapsed());
}
