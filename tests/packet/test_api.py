#!/usr/bin/python3
"""The dataplane's gRPC API through anylbctl, against the real binary: apply
a state, send traffic, and check counters and traces against what left the
port; invalid or stale requests are refused and change nothing; applied
state survives a restart."""
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import tempfile

from scapy.all import Ether

import harness as h

tap = h.Tap()

VIP = "203.0.113.10"
START = [f"node-address = {h.NODE4}"]  # no services until the API adds them


def state_doc(generation, backends=3, extra=None):
    doc = {"generation": generation, "node_addresses": [h.NODE4],
           "services": [{"name": "web", "vip": VIP, "proto": "tcp", "port": 80, "mode": "l2-dsr",
                         "fragments": "drop", "gue_port": 6080}],
           "backends": [{"service": "web", "address": f"198.18.1.{10 + i}", "mac": h.mac_of(0x11, 10 + i),
                         "weight": 100, "state": "up"} for i in range(backends)]}
    if extra:
        extra(doc)
    return doc


def apply_doc(dp, doc, *flags, check=True):
    path = os.path.join(dp.dir, "apply.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return dp.ctl("apply", path, *flags, check=check)


@tap.case
def applied_state_forwards_and_counters_match_the_port():
    with h.Dataplane(START, live=True) as dp:
        apply_doc(dp, state_doc(1))
        flows = [h.to_vip(VIP, 10000 + i, src=f"198.51.100.{i % 200 + 1}") for i in range(300)]
        dp.send(flows + [h.to_vip(VIP, 10000 + i, src=f"198.51.100.{i % 200 + 1}", flags="A") for i in range(300)])
        dp.wait_forwarded(600)
        traces = {}
        for i in range(0, 300, 10):
            t = dp.ctl("trace", f"198.51.100.{i % 200 + 1}:{10000 + i}", f"{VIP}:80", "tcp", json_out=True)
            traces[(f"198.51.100.{i % 200 + 1}", 10000 + i)] = t
        # Traces and flow lists at once (gRPC serves calls on several
        # threads): each worker's one-slot mailbox must not mix them up.
        def trace_then_list(i):
            key = (f"198.51.100.{i % 200 + 1}", 10000 + i)
            t = dp.ctl("trace", f"{key[0]}:{key[1]}", f"{VIP}:80", "tcp", json_out=True)
            return t == traces[key], len(dp.ctl("flows", "--limit", "1000", json_out=True))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            together = list(pool.map(trace_then_list, [i for _ in range(4) for i in range(0, 300, 10)]))
        assert all(same for same, _ in together), "a trace changed its answer under concurrent calls"
        assert all(n == 300 for _, n in together), sorted({n for _, n in together})
        new_flow = dp.ctl("trace", "198.51.100.222:55555", f"{VIP}:80", "tcp", json_out=True)
        dp.send([h.to_vip(VIP, 55555, src="198.51.100.222")])
        dp.wait_forwarded(601)
        stats = dp.ctl("stats", "--interval", "0.1", json_out=True)
        out = dp.stop()
    per_mac = collections.Counter(p[Ether].dst for p in out)
    mac_of = {f"198.18.1.{10 + i}": h.mac_of(0x11, 10 + i) for i in range(3)}
    for b in stats["backends"]:
        assert b["packets"] == per_mac[mac_of[b["address"]]], f"{b} vs {per_mac}"
    assert sum(s["packets"] for s in stats["services"]) == 601 == len(out)
    assert sum(p["tx_packets"] for p in stats["ports"]) == 601
    # What the port lost on its own (rte_eth_stats): nothing here.
    assert all(p[k] == 0 for p in stats["ports"] for k in ("rx_missed", "rx_no_mbuf", "rx_errors", "tx_errors")), \
        stats["ports"]
    by_flow = {(h.flow_of(p)[0], h.flow_of(p)[2]): p[Ether].dst for p in out}
    for key, t in traces.items():
        assert t["decision"] == "flow-table", t
        assert mac_of[t["backend"]] == by_flow[key], f"trace says {t['backend']}, packet went to {by_flow[key]}"
    assert new_flow["decision"] == "maglev" and mac_of[new_flow["backend"]] == by_flow[("198.51.100.222", 55555)]


@tap.case
def invalid_requests_change_nothing():
    with h.Dataplane(START) as dp:
        apply_doc(dp, state_doc(1))
        before = dp.ctl("state")[1]

        def bad_address(d): d["backends"][0]["address"] = "198.18.1.300"
        def unknown_service(d): d["backends"].append({"service": "nope", "address": "198.18.1.50",
                                                      "mac": "02:00:00:00:00:50", "weight": 1, "state": "up"})
        def weight(d): d["backends"][0]["weight"] = 20000
        def duplicate(d): d["backends"].append(dict(d["backends"][0]))
        def spaced_name(d): d["services"].append(dict(d["services"][0], name="web prod", port=81))
        def no_mac(d): d["backends"][0].pop("mac")  # no --exception-interface to resolve it by
        def group_mac(d): d["backends"][0]["mac"] = "ff:ff:ff:ff:ff:ff"
        def multicast_vip(d): d["services"][0]["vip"] = "224.0.0.5"
        def loopback_node(d): d["node_addresses"] = ["127.0.0.1"]
        def bad_peer(d): d["bgp_peers"] = ["198.18.0.1", "router1"]
        cases = [(bad_address, "198.18.1.300"), (unknown_service, "no service named 'nope'"),
                 (weight, "weight"), (duplicate, "key 'address': already a backend"),
                 (spaced_name, "services[1]: key 'name': 'web prod' has ' '"),
                 (no_mac, "key 'mac': required"), (group_mac, "key 'mac': ff:ff:ff:ff:ff:ff is a group"),
                 (multicast_vip, "key 'vip': 224.0.0.5 is not a host's unicast address"),
                 (loopback_node, "node address '127.0.0.1' (node_addresses, --node-address): is not a host's unicast address"),
                 (bad_peer, "bgp_peers[1]: 'router1' is not an address")]
        for change, needle in cases:
            code, _, err = apply_doc(dp, state_doc(5, extra=change), check=False)
            assert code == 1 and needle in err, f"{change.__name__}: exit {code}: {err}"
        # A generation that far ahead would leave no generation above it for any later change.
        code, _, err = apply_doc(dp, state_doc(5), "--generation", str(2 ** 64 - 1), check=False)
        assert code == 1 and "generation: 18446744073709551615 is more than" in err, (code, err)
        # Through the commands too: each names the field and leaves the state alone.
        for args, needle in [(["backend", "add", "web", "198.18.1.10", "--mac", "02:00:00:00:00:01"], "already"),
                             (["backend", "add", "web", "198.18.1.77", "--mac", "zz"], "mac"),
                             (["service", "add", "x", "not-an-ip", "tcp", "80"], "vip"),
                             (["service", "add", "a,b", "203.0.113.99", "tcp", "80"], "name: 'a,b' has ','"),
                             (["backend", "drain", "nosuch", "198.18.1.10"], "no service named 'nosuch'")]:
            code, _, err = dp.ctl(*args, check=False)
            assert code == 1 and needle in err, f"{args}: exit {code}: {err}"
        # The options made generation 1 and the first apply generation 2.
        assert json.loads(before)["generation"] == 2
        code, _, err = apply_doc(dp, state_doc(1), "--generation", "2", check=False)
        assert code == 1 and "not newer" in err, err
        assert dp.ctl("state")[1] == before, "a refused request changed the state"
        dp.stop()


@tap.case
def anylbctl_commands_print_tables_and_json():
    with h.Dataplane(START, live=True) as dp:
        apply_doc(dp, state_doc(1))
        code, out, _ = dp.ctl("service", "list")
        assert out.splitlines()[0].split()[:3] == ["NAME", "VIP", "PROTO"] and "web" in out and "203.0.113.10" in out
        assert dp.ctl("service", "list", json_out=True)[0]["backends"] == 3
        dp.ctl("service", "add", "dns", "203.0.113.53", "udp", "any", "--mode", "gue", "--fragments", "hash")
        show = dp.ctl("service", "show", "dns", json_out=True)
        assert show["mode"] == "gue" and show["fragments"] == "hash" and show["port"] == 0 and show["backends"] == []
        dp.ctl("backend", "add", "dns", "198.18.2.10", "--mac", "02:00:00:00:02:0a", "--weight", "40")
        dp.ctl("backend", "drain", "web", "198.18.1.10")
        dp.ctl("backend", "disable", "web", "198.18.1.11")
        dp.ctl("backend", "weight", "web", "198.18.1.12", "7")
        health = {b["address"]: b for b in dp.ctl("health", json_out=True)}
        assert health["198.18.1.10"]["state"] == "draining" and health["198.18.1.11"]["state"] == "down"
        assert health["198.18.1.12"]["weight"] == 7 and health["198.18.2.10"]["weight"] == 40
        dp.ctl("backend", "undrain", "web", "198.18.1.10")
        dp.ctl("backend", "del", "dns", "198.18.2.10")
        dp.ctl("service", "del", "dns")
        _, out, _ = dp.ctl("health")
        assert "198.18.1.10" in out and "up" in out and "198.18.2.10" not in out
        dp.send([h.to_vip(VIP, 30000 + i) for i in range(20)])
        dp.wait_forwarded(20)
        _, out, _ = dp.ctl("stats", "--interval", "0.1")
        assert "SERVICE" in out and "drops:" in out and "PORT LOST" in out
        flows = dp.ctl("flows", "--service", "web", "--limit", "5", json_out=True)
        assert len(flows) == 5 and all(f["service"] == "web" for f in flows)
        all_flows = dp.ctl("flows", "--limit", "1000", json_out=True)
        assert len(all_flows) == 20
        some = all_flows[0]["backend"]
        only = dp.ctl("flows", "--backend", some, "--limit", "1000", json_out=True)
        assert only and all(f["backend"] == some for f in only)
        assert len(only) == sum(1 for f in all_flows if f["backend"] == some)
        _, out, _ = dp.ctl("trace", "[2001:db8:c::1]:1000", "[2001:db8::99]:80", "tcp")
        assert "not-for-node" in out
        node = dp.ctl("node", json_out=True)
        assert node["lcores"] == 1 and node["generation"] >= 8 and node["packets_forwarded"] >= 20
        # The version the build pins flows by, as pinning_version.hpp says.
        header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../dataplane/core/pinning_version.hpp")
        with open(header) as f:
            version = int(re.search(r"kFlowPinningVersion = (\d+);", f.read()).group(1))
        assert node["flow_pinning_version"] == version, node
        _, out, _ = dp.ctl("node")
        assert f"flow pinning version {version}\n" in out, out
        # Two-armed: af_packet on a veth in, pcap out (--tx-port), both with link.
        assert [(p["name"], p["link_up"], p["egress"]) for p in node["ports"]] == \
            [("net_af_packet0", True, "net_pcap1"), ("net_pcap1", True, "net_pcap1")], node
        assert node["ports_not_forwarding"] == "", node
        assert "port net_af_packet0: link up" in out and "NOT FORWARDING" not in out, out
        assert node["bgp_peers"] == [] and "BGP peers: any source\n" in out, (node, out)
        before = dp.ctl("state", json_out=True)
        for args, says in ((["trace", "1.2.3.4", "5.6.7.8:80", "tcp"], ""), (["service"], ""),
                           (["backend", "frob", "web", "1.1.1.1"], ""), (["stats", "--interval", "-1"], "--interval"),
                           (["nosuch"], "nosuch"), (["stats", "--interval", "abc"], "'abc'"),
                           (["flows", "--limit", "-1"], "--limit"), (["flows", "--limit", "0"], "--limit"),
                           (["backend", "weight", "web", "198.18.1.12", "0"], "weight"),
                           (["backend", "weight", "web", "198.18.1.12", "10001"], "1 to 10000"),
                           (["backend", "add", "web", "198.18.1.77", "--wieght", "5"], "--wieght"),
                           # Flags another verb or the control plane takes: refused, not ignored.
                           (["backend", "add", "web", "198.18.1.77", "--ttl", "5"], "backend add: unknown option '--ttl'"),
                           (["backend", "drain", "web", "198.18.1.12", "--weight", "5"], "'--weight'"),
                           (["service", "add", "x", "203.0.113.99", "tcp", "80", "--quorum", "1"], "--quorum"),
                           (["apply", dp.state_file, "--generation", "0"], "--generation"),
                           (["backend", "drain", "web", "198.18.1.12", "now"], "'now'"),
                           (["service", "list", "all"], "'all'")):
            code, _, err = dp.ctl(*args, check=False)
            assert code == 2 and err.startswith("anylbctl: ") and len(err.strip().splitlines()) == 1, (args, code, err)
            assert says in err, (args, err)
        assert dp.ctl("state", json_out=True) == before, "a refused command changed the state"
        code, _, err = dp.ctl("routes", check=False)
        assert code == 1 and "anylb-controlplane" in err
        dp.stop()
    check_help_lists_every_command()
    r = h.subprocess.run([h.anylbctl(), "--dataplane", "/nonexistent.sock", "service", "list"], capture_output=True,
                         text=True)
    assert r.returncode == 1 and "cannot reach the dataplane" in r.stderr, r.stderr


def check_help_lists_every_command():
    """anylbctl --help lists the commands an operator has (each listed one
    known to anylbctl: its own --help names it), the global flags among them."""
    r = h.subprocess.run([h.anylbctl(), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("anylbctl: "), (r.returncode, r.stdout, r.stderr)
    head, sep, commands = r.stdout.partition("\nCommands:\n")
    assert sep, r.stdout
    for flag in ("--dataplane", "--controlplane", "--json", "--help"):
        assert f"\n  {flag} " in head, f"{flag} not in --help:\n{head}"
    lines = [line.split() for line in commands.split("\n\n")[0].splitlines() if line.startswith("  ")]
    listed = {words[0] for words in lines}
    pairs = {" ".join(words[:2]) for words in lines}
    assert listed == {"service", "backend", "stats", "flows", "trace", "health", "node", "routes", "state", "apply"}, \
        listed
    for sub in ("service list", "service show", "service add", "service del", "backend add", "backend del",
                "backend drain", "backend undrain", "backend disable", "backend weight", "backend register",
                "backend heartbeat", "node drain|undrain", "apply FILE"):
        assert sub in pairs, f"'{sub}' not in --help's commands: {sorted(pairs)}"
    for command in listed:
        c = h.subprocess.run([h.anylbctl(), command, "--help"], capture_output=True, text=True, timeout=30)
        assert c.returncode == 0 and f"] {command}" in c.stdout, (command, c.returncode, c.stdout, c.stderr)
    c = h.subprocess.run([h.anylbctl(), "nosuch", "--help"], capture_output=True, text=True, timeout=30)
    assert c.returncode == 2 and "unknown command 'nosuch'" in c.stderr, (c.returncode, c.stderr)


@tap.case
def applied_state_survives_a_restart():
    def more(doc):
        # A name with every kind of character a name may have: the file holds it.
        doc["backends"].append({"service": "web", "address": "198.18.1.12", "mac": h.mac_of(0x10, 12), "weight": 100,
                                "state": "up"})
        doc["services"].append(dict(doc["services"][0], name="Web-prod.2_b", port=81))
        doc["backends"].append({"service": "Web-prod.2_b", "address": "198.18.1.13", "mac": h.mac_of(0x11, 13),
                                "weight": 7, "state": "up"})
        doc["bgp_peers"] = ["198.18.0.1", "2001:db8:f::1"]
    with h.Dataplane(START) as dp:
        apply_doc(dp, state_doc(0, backends=2, extra=more))
        dp.ctl("backend", "drain", "web", "198.18.1.11")
        before = json.loads(dp.ctl("state")[1])
        dp.restart()
        state = json.loads(dp.ctl("state")[1])
        assert state["generation"] == 3  # options 1, apply 2, drain 3
        assert [(b["service"], b["address"], b["state"]) for b in state["backends"]] == [
            ("web", "198.18.1.10", "up"), ("web", "198.18.1.11", "draining"), ("web", "198.18.1.12", "up"),
            ("Web-prod.2_b", "198.18.1.13", "up")], state["backends"]
        assert state["bgp_peers"] == ["198.18.0.1", "2001:db8:f::1"], state
        assert state == before, (before, state)
        assert "restored generation 3" in dp.read_log()
        dp.stop()


@tap.case
def a_state_its_limits_refuse_at_start_leaves_the_state_file_alone():
    # Restarted with a lower --max-backends than its state file needs, the
    # dataplane refuses to start, naming the option; the file stays as it
    # was, so a restart with the old limit comes back with every backend.
    with h.Dataplane(START) as dp:
        apply_doc(dp, state_doc(0, backends=3))
        dp.proc.send_signal(h.signal.SIGTERM)
        dp.proc.wait(timeout=20)
        with open(dp.state_file, "rb") as f:
            saved = f.read()
        assert json.loads(saved)["source"] == "api", saved
        limits = dp.args.index("--max-backends")
        low = [*dp.args[:limits + 1], "2", *dp.args[limits + 2:]]
        r = h.subprocess.run(low, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--max-backends 2" in r.stdout + r.stderr, (r.returncode, r.stdout, r.stderr)
        with open(dp.state_file, "rb") as f:
            assert f.read() == saved, "a refused start rewrote the state file"
        os.unlink(dp.counters_path)
        dp.start()
        state = json.loads(dp.ctl("state")[1])
        assert [b["address"] for b in state["backends"]] == ["198.18.1.10", "198.18.1.11", "198.18.1.12"], state
        dp.stop()


@tap.case
def a_generation_past_2_to_the_32_survives_a_restart():
    # Generations are 64-bit; only a jump of more than 2^32 at once is refused.
    # Restored from the file, the generation is not a jump from nothing.
    with h.Dataplane(START) as dp:
        for generation in (2 ** 32, 2 ** 32 + 5):
            apply_doc(dp, state_doc(0), "--generation", str(generation))
        dp.restart()
        assert json.loads(dp.ctl("state")[1])["generation"] == 2 ** 32 + 5
        dp.stop()


@tap.case
def a_reload_does_not_replace_what_the_api_applied():
    # Once the API has applied a state, it owns it: a SIGHUP (logrotate,
    # systemctl reload) must not put the options' (here: no services) in
    # its place, before or after a restart.
    with h.Dataplane(START) as dp:
        apply_doc(dp, state_doc(0, backends=2))
        for restart in (False, True):
            if restart:
                dp.restart()
            before = json.loads(dp.ctl("state")[1])
            dp.reload(START, wait=False)
            deadline = h.time.time() + 10
            while "reload ignored" not in dp.read_log():
                assert h.time.time() < deadline, dp.read_log()
                h.time.sleep(0.05)
            after = json.loads(dp.ctl("state")[1])
            assert after == before and [s["name"] for s in after["services"]] == ["web"], (before, after)
        dp.stop()


@tap.case
def a_full_state_filesystem_refuses_the_apply_and_loses_nothing():
    # The state file's filesystem full (a 256 KiB tmpfs, filled): the apply
    # is refused with a clear error, the file still holds the last state
    # whole, nothing half-written is left beside it, and the dataplane
    # still forwards that last state. Room again: the same apply lands.
    fs = tempfile.mkdtemp(prefix=f"anylb-pkt-{os.getpid()}-fs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", fs], check=True)
    try:
        state = os.path.join(fs, "state.json")
        with h.Dataplane(START, live=True, state_file=state) as dp:
            apply_doc(dp, state_doc(1))
            with open(state) as f:
                before = f.read()
            applied = dp.ctl("state", json_out=True)
            ballast = os.path.join(fs, "ballast")
            fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096) > 0:
                    pass
            except OSError:  # full
                pass
            finally:
                os.close(fd)
            rc, _, err = apply_doc(dp, state_doc(2, backends=50), check=False)
            assert rc != 0 and "cannot write the state file" in err, (rc, err)
            with open(state) as f:
                assert f.read() == before, "the state file changed under a refused apply"
            assert sorted(os.listdir(fs)) == ["ballast", "state.json"], os.listdir(fs)
            assert dp.ctl("state", json_out=True) == applied, "a refused apply changed the state"
            dp.send([h.to_vip(VIP, 20000 + i, src="198.51.100.7") for i in range(20)])
            dp.wait_forwarded(20)  # still forwarding with what was applied
            os.unlink(ballast)
            apply_doc(dp, state_doc(2, backends=50))
            with open(state) as f:
                assert json.load(f)["generation"] == applied["generation"] + 1
    finally:
        subprocess.run(["umount", fs], check=False)
        os.rmdir(fs)


if __name__ == "__main__":
    tap.run()
