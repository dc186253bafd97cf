#!/usr/bin/python3
"""Plots Mpps against the number of flows for anylb and the baseline, from
bench.py --json output: plot.py results.json out.png [hugepages.json]
(the optional second run, bench.py --hugepages, drawn dotted)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

runs = [(json.load(open(sys.argv[1])), "", {1: "-", 2: "--"})]
if len(sys.argv) > 3:
    runs.append((json.load(open(sys.argv[3])), ", huge pages", {1: ":", 2: "-."}))
fig, ax = plt.subplots(figsize=(7, 4.2))
med = lambda xs: sorted(xs)[len(xs) // 2]
for rows, memory, styles in runs:
    for workers, style in styles.items():
        pts = sorted((r["flows"], r) for r in rows
                     if r["workers"] == workers and r["scenario"].startswith("est-") and r["baseline_mpps"][0])
        if not pts:
            continue
        flows = [f for f, _ in pts]
        ax.plot(flows, [med(r["baseline_mpps"]) for _, r in pts], "o" + style, color="grey",
                label=f"testpmd macswap (baseline), {workers} worker(s){memory}")
        ax.plot(flows, [med(r["anylb_mpps"]) for _, r in pts], "s" + style, color="tab:blue",
                label=f"anylb-dataplane, {workers} worker(s){memory}")
ax.set_xscale("log")
ax.set_xlabel("established flows (64-byte TCP, net_pcap infinite_rx -> net_null)")
ax.set_ylabel("Mpps")
ax.set_ylim(bottom=0)
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
ax.set_title("anylb vs the DPDK baseline, same pcap, same run")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
