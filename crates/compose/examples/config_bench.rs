//! Loads a generated 50-service project from 3 merged files and prints the time.
//! Run: `cargo run --release -p compose --example config_bench` (target: under 50 ms).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

fn main() -> Result<(), compose::ComposeError> {
    let mut base = String::from(
        "x-common: &common\n  restart: unless-stopped\n  labels: {tier: back}\nservices:\n",
    );
    let mut over = String::from("services:\n");
    let mut third = String::from("services:\n");
    for i in 0..50 {
        let dep = if i > 0 {
            format!("\n    depends_on: [svc{}]", i - 1)
        } else {
            String::new()
        };
        let _ = write!(
            base,
            "  svc{i}:\n    <<: *common\n    image: img{i}:${{TAG:-latest}}\n    ports: ['{}:80']\n    environment: [A=1, B=2]\n    volumes: ['./d{i}:/data']{dep}\n    healthcheck: {{test: 'true', interval: 10s}}\n",
            8000 + i
        );
        let _ = write!(
            over,
            "  svc{i}:\n    environment: {{B: 3, C: 4}}\n    command: run --id {i}\n"
        );
        let _ = write!(
            third,
            "  svc{i}:\n    deploy: {{resources: {{limits: {{memory: 256m, cpus: '0.5'}}}}}}\n"
        );
    }
    let opts = compose::LoadOptions {
        working_dir: "/tmp/bench".into(),
        environment: BTreeMap::new(),
        ..Default::default()
    };
    let files = [
        ("a.yaml", base.as_str()),
        ("b.yaml", over.as_str()),
        ("c.yaml", third.as_str()),
    ];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let p = compose::load_from_str(&files, &opts)?;
        let order = p.dependency_order()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        best = best.min(ms);
        assert_eq!(order.len(), 50);
    }
    println!("loaded 50 services from 3 files: best of 5 = {best:.2} ms");
    Ok(())
}
