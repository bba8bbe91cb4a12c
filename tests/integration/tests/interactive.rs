//! `run -it`, `exec -it`, detach and attach through real pseudo-terminals.

use std::time::Duration;

use integration::*;

fn shell_session(mut pty: Pty) {
    pty.expect("/ # ");
    pty.send_line("echo hi-$((1+2))");
    pty.expect("hi-3");
    pty.expect("/ # ");
    pty.send_line("tty; stty size");
    pty.expect("/dev/pts/0");
    pty.expect("/ # ");
    pty.send_line("exit 5");
    assert_eq!(
        pty.wait_exit(Duration::from_secs(20)),
        5,
        "{}",
        pty.transcript
    );
}

#[test]
fn berth_run_it_shell() {
    let d = daemon_or_skip!();
    d.import_busybox();
    shell_session(d.berth_pty(&["run", "-it", "--rm", "busybox", "sh"]));
}

#[test]
fn docker_run_it_shell() {
    let d = daemon_or_skip!();
    d.import_busybox();
    shell_session(d.docker_pty(&["run", "-it", "--rm", "busybox", "sh"]));
}

#[test]
fn run_it_default_cmd_is_sh() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let mut pty = d.docker_pty(&["run", "-it", "--name", "itc", "busybox"]);
    pty.expect("/ # ");
    pty.send_line("exit 0");
    assert_eq!(pty.wait_exit(Duration::from_secs(20)), 0);
    let v = d.inspect("itc");
    assert_eq!(v["Config"]["Tty"], true);
    assert_eq!(v["State"]["ExitCode"], 0);
}

#[test]
fn detach_with_ctrl_p_ctrl_q_then_attach() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let mut pty = d.docker_pty(&["run", "-it", "--name", "det", "busybox", "sh"]);
    pty.expect("/ # ");
    pty.send(b"\x10\x11");
    assert_eq!(
        pty.wait_exit(Duration::from_secs(20)),
        0,
        "{}",
        pty.transcript
    );
    let v = d.inspect("det");
    assert_eq!(
        v["State"]["Running"], true,
        "detach must leave it running: {}",
        v["State"]
    );

    let mut again = d.docker_pty(&["attach", "det"]);
    // attach does not redraw the prompt: send a command straight away.
    std::thread::sleep(Duration::from_millis(500));
    again.send_line("echo back-$((2*3))");
    again.expect("back-6");
    again.send_line("exit 4");
    assert_eq!(
        again.wait_exit(Duration::from_secs(20)),
        4,
        "{}",
        again.transcript
    );
    d.wait_status("det", "exited", Duration::from_secs(10));
    assert_eq!(d.inspect("det")["State"]["ExitCode"], 4);
}

#[test]
fn exec_it_shell() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "ex", "busybox", "sleep", "1000"])
        .ok();
    let mut pty = d.docker_pty(&["exec", "-it", "ex", "sh"]);
    pty.expect("/ # ");
    pty.send_line("echo in-$((4+4)); tty");
    pty.expect("in-8");
    pty.expect("/dev/pts/");
    pty.send_line("exit 3");
    assert_eq!(
        pty.wait_exit(Duration::from_secs(20)),
        3,
        "{}",
        pty.transcript
    );

    let mut pty = d.berth_pty(&["exec", "-it", "ex", "sh"]);
    pty.expect("/ # ");
    pty.send_line("exit 6");
    assert_eq!(
        pty.wait_exit(Duration::from_secs(20)),
        6,
        "{}",
        pty.transcript
    );
    assert_eq!(d.inspect("ex")["State"]["Running"], true);
}

#[test]
fn docker20_run_it_shell() {
    let d = daemon_or_skip!();
    d.import_busybox();
    if let Some(pty) = d.docker20_pty(&["run", "-it", "--rm", "busybox", "sh"]) {
        shell_session(pty);
    }
}

#[test]
fn tty_size_follows_the_terminal() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let mut pty = d.docker_pty(&["run", "-it", "--rm", "busybox", "sh"]);
    pty.expect("/ # ");
    pty.send_line("stty size");
    pty.expect("24 80");
    pty.expect("/ # ");
    pty.resize(100, 40);
    std::thread::sleep(Duration::from_millis(500));
    pty.send_line("stty size");
    pty.expect("40 100");
    pty.expect("/ # ");
    pty.send_line("exit");
    assert_eq!(pty.wait_exit(Duration::from_secs(20)), 0);
}
