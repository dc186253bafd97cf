#!/usr/bin/python3
"""The binary's option handling: --help documents every option; a bad value
exits 2 with a message naming the option (and the config file line)."""
import os
import re
import subprocess
import tempfile

import harness as h

tap = h.Tap()

# EAL file prefixes carry our PID: another run's (/var/run/dpdk/<prefix>) are not ours to touch.
PREFIX = f"anylbopt{os.getpid()}_"
EAL = "--lcores=0@0,1@1 --no-huge -m 128 --no-pci --no-telemetry --file-prefix " + PREFIX + "{} --vdev=net_null0"
# The options the parser is built with, read from its source: --help must list
# them all, and no other (a list kept here went stale as options were added).
OPTIONS_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dataplane", "dpdk", "options.cpp")


def run(*args, timeout=30):
    return subprocess.run([h.binary(), *args], capture_output=True, text=True, timeout=timeout)


def expect_usage_error(args, *needles):
    r = run(*args)
    assert r.returncode == 2, f"exit {r.returncode} for {args}: {r.stderr}"
    ours = [l for l in r.stderr.splitlines() if l.startswith("anylb-dataplane: ")]
    assert len(ours) == 1, f"expected one error line, got: {r.stderr}"
    first = ours[0]
    for n in needles:
        assert n in first, f"'{n}' missing from: {first}"


def declared_options():
    """Each ("name[,x]", ...) entry of options.cpp's add_options() lists."""
    with open(OPTIONS_SOURCE) as f:
        return set(re.findall(r'^\s*\("([a-z][a-z-]*)(?:,[a-z])?",', f.read(), re.M))


def help_options(text):
    """{option: its description} from --help: an option line starts with two
    spaces, "-x [ --name ]" or "--name", its value name and default, then the
    description, continued on lines indented further."""
    found, current = {}, None
    for line in text.splitlines():
        m = re.match(r"  (?:-[a-z] \[ )?--([a-z][a-z-]*)(?: \])?(.*)$", line)
        if m:
            current = m.group(1)
            found[current] = re.sub(r"^ [A-Z]+(?: \(=[^)]*\))?", "", m.group(2)).strip()
        elif current and line.startswith(" " * 10) and line.strip():
            found[current] = (found[current] + " " + line.strip()).strip()
        else:
            current = None
    return found


@tap.case
def help_documents_every_option():
    r = run("--help")
    assert r.returncode == 0, r.stderr
    listed = help_options(r.stdout)
    declared = declared_options()
    # A floor, so that a parse of either that finds nothing cannot pass.
    assert len(declared) >= 25 and {"eal", "api-socket", "state-file", "tx-port", "exception-interface"} <= declared, \
        declared
    assert set(listed) == declared, \
        f"declared, not in --help: {sorted(declared - set(listed))}; in --help, not declared: {sorted(set(listed) - declared)}"
    undescribed = [o for o, text in listed.items() if len(text) < 10]
    assert not undescribed, f"--help gives no description of: {undescribed}\n{r.stdout}"


@tap.case
def bad_values_name_their_option():
    eal = ["--eal", EAL.format(1)]
    expect_usage_error(eal + ["--mtu", "abc"], "mtu")
    expect_usage_error(eal + ["--mtu", "100"], "mtu", "1280")
    expect_usage_error(eal + ["--maglev-size", "65536"], "maglev-size", "not a prime")
    expect_usage_error(eal + ["--log-level", "loud"], "log-level", "loud")
    expect_usage_error(eal + ["--flow-capacity", "0"], "flow-capacity")
    # 1 port x 1 worker x 1024 RX descriptors + 2 caches of 256 = 1536.
    expect_usage_error(eal + ["--mbufs", "1500"], "mbufs", "at least 1536")
    expect_usage_error(eal + ["--flow-capacity", str((1 << 28) + 1)], "flow-capacity", "268435456")
    # Four workers' tables of the most flows (36 GiB each): more than this
    # machine (or any CI machine under 144 GiB) has. Refused before any is
    # mapped, naming the option.
    expect_usage_error(["--eal", "--lcores=0@0,1@1,2@1,3@1,4@1 --no-huge -m 256 --no-pci --no-telemetry "
                                 f"--file-prefix {PREFIX}10 --vdev=net_null0", "--flow-capacity", str(1 << 28)],
                       "flow-capacity", "MiB are available")
    expect_usage_error(eal + ["--tcp-timeout", "0"], "tcp-timeout")
    expect_usage_error(eal + ["--no-such-option"], "no-such-option")
    expect_usage_error(eal + ["--node-address", "300.1.1.1"], "node-address", "300.1.1.1")
    expect_usage_error(eal + ["--service", "name=a vip=203.0.113.1 port=99999"], "service", "port", "99999")
    expect_usage_error(eal + ["--service", "name=a vip=203.0.113.1 mode=nat"], "service", "mode", "nat")
    expect_usage_error(eal + ["--service", "name=a vip=203.0.113.1",
                              "--backend", "service=a address=198.18.1.1 mac=02:00:00:00:00:01 weight=0"],
                       "backend", "weight")
    expect_usage_error(eal + ["--service", "name=a vip=203.0.113.1",
                              "--backend", "service=b address=198.18.1.1 mac=02:00:00:00:00:01"],
                       "no service named 'b'")
    expect_usage_error(eal + ["--service", "name=a vip=203.0.113.1 mode=ipip",
                              "--backend", "service=a address=198.18.1.1 mac=02:00:00:00:00:01"],
                       "node address")


@tap.case
def config_file_errors_name_the_line_and_key():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.conf")
        with open(path, "w") as f:
            f.write("# a comment\nnode-address = 198.18.0.1\n\n"
                    "service = name=web vip=203.0.113.10 proto=tcp port=80\n"
                    "service = name=dns vip=203.0.113.11 proto=sctp port=53\n")
        expect_usage_error(["--eal", EAL.format(2), "--config", path], f"{path} line 5", "proto", "sctp")
        with open(path, "w") as f:
            f.write("mtu = 1500\nmtu-typo = 3\n")
        expect_usage_error(["--eal", EAL.format(3), "--config", path], f"{path} line 2", "mtu-typo")
        # A value out of range, checked after the file is read: still its line.
        with open(path, "w") as f:
            f.write("# jumbo\nmtu = 9000\n")
        expect_usage_error(["--eal", EAL.format(3), "--config", path], f"{path} line 2", "mtu", "2030")
        with open(path, "w") as f:
            f.write("service = name=web vip=203.0.113.10\n"
                    "backend = service=web address=198.18.1.1 mac=02:00:00:00:00:01\n"
                    "backend = service=web address=198.18.1.1 mac=02:00:00:00:00:02\n")
        expect_usage_error(["--eal", EAL.format(4), "--config", path], f"{path} line 3", "198.18.1.1")
        expect_usage_error(["--eal", EAL.format(5), "--config", os.path.join(d, "missing.conf")], "config", "missing.conf")


@tap.case
def eal_and_port_errors_exit_2():
    expect_usage_error(["--eal", f"--lcores=0@0 --no-huge -m 128 --no-pci --no-telemetry --file-prefix {PREFIX}6 "
                                 "--vdev=net_null0"], "lcores")
    expect_usage_error(["--eal", EAL.format(7), "--port", "net_nosuch9"], "port", "net_nosuch9")
    expect_usage_error(["--eal", EAL.format(7), "--port", "net_null0", "--port", "net_null0"], "port", "given twice")
    expect_usage_error([], "eal")


@tap.case
def good_options_start_and_stop_cleanly():
    with tempfile.TemporaryDirectory() as d:
        counters = os.path.join(d, "c.json")
        p = subprocess.Popen([h.binary(), "--eal", EAL.format(8), "--counters-file", counters,
                              "--api-socket", os.path.join(d, "api.sock"),
                              "--stats-interval", "0.05", "--flow-capacity", "4096", "--mbufs", "2048",
                              "--service", "name=a vip=203.0.113.1 proto=tcp port=80",
                              "--backend", "service=a address=198.18.1.1 mac=02:00:00:00:00:01"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for _ in range(400):
                if os.path.exists(counters):
                    break
                h.time.sleep(0.025)
            assert os.path.exists(counters), "no counters written"
            # A second dataplane on the same API socket is refused; the
            # first one's socket stays (it was deleted and taken over).
            second = run("--eal", EAL.format(11), "--api-socket", os.path.join(d, "api.sock"), "--flow-capacity",
                         "4096", "--mbufs", "2048")
            assert second.returncode == 1 and "is in use by a running process" in second.stdout + second.stderr, \
                second.stdout + second.stderr
            still = subprocess.run([h.anylbctl(), "--dataplane", os.path.join(d, "api.sock"), "service", "list"],
                                   capture_output=True, text=True)
            assert still.returncode == 0 and "a" in still.stdout.split(), still.stdout + still.stderr
        finally:
            p.terminate()
            out, _ = p.communicate(timeout=20)
        assert p.returncode == 0, out
        assert "applied generation 1: 1 service(s), 1 backend(s)" in out


@tap.case
def an_api_socket_that_cannot_listen_fails_cleanly():
    # The API starts after the workers: its failure must stop them before
    # what they use goes (it was a segmentation fault).
    with tempfile.TemporaryDirectory() as d:
        not_a_dir = os.path.join(d, "file")
        open(not_a_dir, "w").close()
        r = run("--eal", EAL.format(9), "--api-socket", os.path.join(not_a_dir, "api.sock"), "--flow-capacity", "4096",
                "--mbufs", "2048", "--service", "name=a vip=203.0.113.1 proto=tcp port=80")
        assert r.returncode == 1, f"exit {r.returncode}: {r.stdout}{r.stderr}"
        assert "option 'api-socket': cannot listen on" in r.stdout + r.stderr, r.stdout + r.stderr
        # Something that is not a socket at the path is refused, not deleted.
        r = run("--eal", EAL.format(12), "--api-socket", not_a_dir, "--flow-capacity", "4096", "--mbufs", "2048")
        assert r.returncode == 1 and "exists and is not a socket" in r.stdout + r.stderr, r.stdout + r.stderr
        assert os.path.isfile(not_a_dir)


def drop_runtime_dirs():
    import glob
    import shutil
    for d in glob.glob(f"/var/run/dpdk/{PREFIX}*"):  # EAL leaves them behind; only this run's
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    tap.teardown = drop_runtime_dirs
    tap.run()
