#!/usr/bin/python3
"""Plots Mpps against the number of flows for anylb and the baseline, from
bench.py --json output: plot.py results.json out.png [hugepages.json]
(the optional second run, bench.py --hugepages, drawn dotted). Every worker
count in the files gets its lines; the baseline is labelled with the
testpmd mode the run used (its "baseline" field). Rows bench.py marked
invalid are left out, with a warning."""
import itertools
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Line styles: the first file's worker counts take the solid family, the
# huge-pages file's the dotted one; more worker counts cycle through them.
STYLES = (["-", "--", (0, (5, 1, 1, 1)), (0, (8, 2))], [":", "-.", (0, (1, 3)), (0, (3, 1, 1, 1, 1, 1))])


def med(xs):
    return sorted(xs)[len(xs) // 2]


def plotted_rows(rows, path):
    """The established-flow rows with a baseline, less those bench.py marked invalid."""
    out = []
    for r in rows:
        if not (r["scenario"].startswith("est-") and r["baseline_mpps"] and r["baseline_mpps"][0]):
            continue
        if r.get("valid") is False:
            print(f"plot: {path}: {r['scenario']} w{r['workers']} left out: marked invalid", file=sys.stderr)
            continue
        out.append(r)
    return out


def plot_run(ax, rows, memory, styles):
    for (workers, baseline), style in zip(sorted({(r["workers"], r.get("baseline", "macswap")) for r in rows}),
                                          itertools.cycle(styles)):
        pts = sorted(((r["flows"], r) for r in rows
                      if r["workers"] == workers and r.get("baseline", "macswap") == baseline), key=lambda p: p[0])
        flows = [f for f, _ in pts]
        ax.plot(flows, [med(r["baseline_mpps"]) for _, r in pts], marker="o", linestyle=style, color="grey",
                label=f"testpmd {baseline} (baseline), {workers} worker(s){memory}")
        ax.plot(flows, [med(r["anylb_mpps"]) for _, r in pts], marker="s", linestyle=style, color="tab:blue",
                label=f"anylb-dataplane, {workers} worker(s){memory}")


def main():
    runs = [(sys.argv[1], "")] + ([(sys.argv[3], ", huge pages")] if len(sys.argv) > 3 else [])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (path, memory), styles in zip(runs, STYLES):
        with open(path) as f:
            plot_run(ax, plotted_rows(json.load(f), path), memory, styles)
    ax.set_xscale("log")
    ax.set_xlabel("established flows (64-byte TCP, net_pcap infinite_rx -> net_null)")
    ax.set_ylabel("Mpps")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("anylb vs the DPDK baseline, same pcap, same run")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
