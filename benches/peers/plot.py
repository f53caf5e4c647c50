#!/usr/bin/env python3
"""Plots and tables from the peer benchmark's JSON.

    python plot.py [results.json] [--markdown BENCHMARKS.md] [--outdir DIR]

Writes PNGs (latency CDF per message size, throughput and fan-out bars, cache
bars) next to the JSON (or into --outdir) and, with --markdown, replaces the
part of that file between the GENERATED markers with tables built from the
same JSON. Nothing here measures anything: every number comes from the JSON.
"""

import argparse
import json
import statistics
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BEGIN = "<!-- BEGIN GENERATED: benches/peers/plot.py -->"
END = "<!-- END GENERATED -->"

PEERS = ["iceoryx2", "disruptor", "kekbit", "uds", "pipe"]
# orbit's own transports: the multi-writer ring, and a single-writer ring
# written through its RingWriter.
OURS = ["orbit", "orbit-sw"]
# The disruptor runs between threads: the best peer that crosses processes.
XPROC = ["iceoryx2", "kekbit", "uds", "pipe"]
STYLE = {
    "line": dict(color="#888888", ls="--", lw=1.4),
    "copy": dict(color="#bbbbbb", ls=":", lw=1.6),
    "orbit": dict(color="#d62728", lw=2.6),
    "orbit-sw": dict(color="#7f0000", ls="-.", lw=2.2),
    "iceoryx2": dict(color="#1f77b4", lw=1.6),
    "iceoryx2-bp": dict(color="#aec7e8", lw=1.6),
    "disruptor": dict(color="#2ca02c", lw=1.6),
    "kekbit": dict(color="#9467bd", lw=1.6),
    "uds": dict(color="#8c564b", lw=1.6),
    "pipe": dict(color="#e377c2", lw=1.6),
}
COLORS = {k: v["color"] for k, v in STYLE.items()}
LADDER = ["p50", "p90", "p99", "p99.9", "p99.99", "max"]


def fmt_ns(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e4:
        return f"{v / 1e3:.1f} µs"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.0f} ns"


def fmt_ratio(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}×"
    if v >= 10:
        return f"{v:.1f}×"
    return f"{v:.2f}×"


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    return f"{v / 1e3:.0f} k"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def lat_rows(data, size, mode):
    return [r for r in data.get("latency", []) if r["size"] == size and r["mode"] == mode]


def stat(rows, kind, p):
    for r in rows:
        if r["kind"] == kind and "stats" in r:
            return r["stats"][p]
    return None


def best_peer(rows, p="p50", peers=PEERS):
    best = None
    for r in rows:
        if r["kind"] in peers and "stats" in r:
            v = r["stats"][p]
            if best is None or v < best[1]:
                best = (r, v)
    return best


# ---------------------------------------------------------------- plots


def plot_latency(data, outdir):
    files = []
    sizes = sorted({r["size"] for r in data.get("latency", [])})
    for size in sizes:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
        for ax, mode in zip(axes, ["back-to-back", "fixed-rate"]):
            rows = lat_rows(data, size, mode)
            for r in rows:
                if "stats" not in r:
                    continue
                pts = [(ns, q) for q, ns in r["stats"]["cdf"] if 0 < q < 1 and ns > 0]
                if not pts:
                    continue
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=r["transport"], **STYLE.get(r["kind"], {}))
            ax.set_xscale("log")
            ax.set_yscale("logit")
            ax.set_ylim(0.01, 0.99999)
            ax.set_yticks([0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999])
            ax.set_yticklabels(["p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p99.999"])
            ax.minorticks_off()
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel("one-way latency (ns, log scale)")
            if mode == "fixed-rate":
                iv = next((r.get("interval_ns") for r in rows if r.get("interval_ns")), None)
                title = f"fixed rate (one message every {iv / 1000:.0f} µs, from scheduled send)" if iv else mode
            else:
                title = "back-to-back ping-pong (round trip / 2)"
            ax.set_title(title, fontsize=11)
        axes[0].set_ylabel("fraction of messages at or below")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(8, len(labels)), fontsize=9, frameon=False)
        m = data["machine"]
        fig.suptitle(
            f"Cross-process one-way latency, {size} B messages — {m['nproc']} × {m['cpu_model']}, {data['mode']} run",
            fontsize=12,
        )
        fig.tight_layout(rect=(0, 0.07, 1, 0.95))
        path = os.path.join(outdir, f"latency_cdf_{size}B.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path)
    return files


def bar_panel(ax, groups, title, ylabel):
    """groups: list of (group label, [(kind, transport, value, annotation)])."""
    kinds = []
    for _, items in groups:
        for k, name, _, _ in items:
            if (k, name) not in kinds:
                kinds.append((k, name))
    width = 0.8 / max(1, len(kinds))
    for gi, (glabel, items) in enumerate(groups):
        for k, name, v, note in items:
            ki = kinds.index((k, name))
            x = gi - 0.4 + width * (ki + 0.5)
            if v is None or v <= 0:
                continue
            ax.bar(x, v, width * 0.92, color=COLORS.get(k, "#444444"), label=name)
            if note:
                ax.text(x, v, note, rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g for g, _ in groups], fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    # One legend entry per transport.
    h, l = ax.get_legend_handles_labels()
    seen = {}
    for hh, ll in zip(h, l):
        seen.setdefault(ll, hh)
    return seen


def plot_throughput(data, outdir):
    rows = [r for r in data.get("throughput", []) if "write_fps" in r]
    if not rows:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.6))
    legend = {}
    for ax, shape in zip(axes, ["write-only", "delivered"]):
        groups = []
        for size in [64, 1024]:
            for w in [1, 2]:
                items = []
                for r in rows:
                    if r["shape"] == shape and r["size"] == size and r["writers"] == w:
                        v = r["write_fps"] if shape == "write-only" else r["mean_reader_fps"]
                        note = ""
                        if shape == "delivered" and r.get("missed_fraction", 0) > 0.005:
                            note = f"{r['missed_fraction'] * 100:.0f}% missed"
                        items.append((r["kind"], r["transport"], v, note))
                if items:
                    groups.append((f"{size} B, {w} writer{'s' if w > 1 else ''}", items))
        title = ("written by the writers, no reader attached" if shape == "write-only"
                 else "received by one busy-polling reader")
        legend.update(bar_panel(ax, groups, f"{shape}: frames/s {title}", "frames per second (log)"))
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=len(legend), fontsize=9, frameon=False)
    m = data["machine"]
    fig.suptitle(f"Throughput — {m['nproc']} × {m['cpu_model']}, {data['mode']} run", fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    path = os.path.join(outdir, "throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_fanout(data, outdir):
    rows = [r for r in data.get("fanout", []) if "mean_reader_fps" in r]
    if not rows:
        return []
    sizes = sorted({r["size"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 5.4))
    if len(sizes) == 1:
        axes = [axes]
    legend = {}
    for ax, size in zip(axes, sizes):
        groups = []
        for n in [1, 2, 4]:
            items = []
            for r in rows:
                if r["size"] == size and r["readers"] == n:
                    note = ""
                    if r.get("missed_fraction", 0) > 0.005:
                        note = f"{r['missed_fraction'] * 100:.0f}% missed"
                    items.append((r["kind"], r["transport"], r["mean_reader_fps"], note))
            if items:
                groups.append((f"{n} reader{'s' if n > 1 else ''}", items))
        legend.update(bar_panel(ax, groups, f"{size} B frames: frames/s received per reader",
                                "frames per second per reader (log)"))
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=len(legend), fontsize=9, frameon=False)
    m = data["machine"]
    fig.suptitle(f"Fan-out: one writer, 1/2/4 reader processes — {m['nproc']} × {m['cpu_model']}", fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    path = os.path.join(outdir, "fanout.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def plot_cache(data, outdir):
    rows = [r for r in data.get("cache", []) if "ops_per_s" in r]
    if not rows:
        return []
    colors = {"orbit": COLORS["orbit"], "redis": "#ff7f0e", "lmdb": "#17becf"}
    fig, ax = plt.subplots(figsize=(12, 5.4))
    labels = []
    for i, r in enumerate(rows):
        ax.barh(i, r["ops_per_s"], color=colors.get(r["system"], "#444444"))
        ax.text(r["ops_per_s"], i, f" {fmt_rate(r['ops_per_s'])}/s ({r['ns_per_op']:.0f} ns)", va="center", fontsize=8)
        labels.append(f"{r['system']} {r['op']} — {r['mode']}")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["ops_per_s"] for r in rows) * 8)
    ax.set_xlabel("operations per second, one client thread (log)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    m = data["machine"]
    ax.set_title(f"Key/value: 16 B keys, 64 B values — {m['nproc']} × {m['cpu_model']}", fontsize=12)
    fig.tight_layout()
    path = os.path.join(outdir, "cache.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


# ---------------------------------------------------------------- tables


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def headline(data):
    rows = []
    for mode in ["back-to-back", "fixed-rate"]:
        for size in sorted({r["size"] for r in data.get("latency", [])}):
            lr = lat_rows(data, size, mode)
            bp = best_peer(lr)
            xp = best_peer(lr, peers=XPROC)
            bp999 = best_peer(lr, "p99.9")
            for ours in OURS:
                name = next((r["transport"] for r in lr if r["kind"] == ours), None)
                if name is None:
                    continue
                rows.append([
                    f"{size} B", mode, name,
                    fmt_ns(stat(lr, ours, "p50")),
                    fmt_ratio(ratio(stat(lr, ours, "p50"), stat(lr, "line", "p50"))),
                    fmt_ratio(ratio(stat(lr, ours, "p99.9"), stat(lr, "line", "p99.9"))),
                    fmt_ratio(ratio(stat(lr, ours, "p50"), stat(lr, "copy", "p50"))),
                    (f"{fmt_ratio(ratio(stat(lr, ours, 'p50'), bp[1]))} ({bp[0]['kind']})" if bp else "–"),
                    (f"{fmt_ratio(ratio(stat(lr, ours, 'p50'), xp[1]))} ({xp[0]['kind']})" if xp else "–"),
                    (f"{fmt_ratio(ratio(stat(lr, ours, 'p99.9'), bp999[1]))} ({bp999[0]['kind']})"
                     if bp999 else "–"),
                ])
    return table(
        ["message", "mode", "transport", "p50", "p50 ÷ line floor", "p99.9 ÷ line floor",
         "p50 ÷ copy floor", "p50 ÷ best peer", "p50 ÷ best cross-process peer", "p99.9 ÷ best peer"],
        rows,
    )


def latency_tables(data):
    parts = []
    for size in sorted({r["size"] for r in data.get("latency", [])}):
        for mode in ["back-to-back", "fixed-rate"]:
            lr = lat_rows(data, size, mode)
            if not lr:
                continue
            floor50, floor999 = stat(lr, "line", "p50"), stat(lr, "line", "p99.9")
            bp = best_peer(lr)
            rows = []
            for r in lr:
                name = r["transport"]
                if r["kind"] in OURS:
                    name = f"**{name}**"
                if "stats" not in r:
                    rows.append([name, f"failed: {r.get('error', '?')}"] + [""] * 9)
                    continue
                s = r["stats"]
                rows.append([name] + [fmt_ns(s[p]) for p in LADDER] + [
                    fmt_ratio(ratio(s["p50"], floor50)),
                    fmt_ratio(ratio(s["p99.9"], floor999)),
                    fmt_ratio(ratio(s["p50"], bp[1])) if bp else "–",
                    str(r.get("lost", 0)),
                ])
            parts.append(f"#### {size} B, {mode}\n\n" + table(
                ["transport", "p50", "p90", "p99", "p99.9", "p99.99", "max",
                 "p50 ÷ floor", "p99.9 ÷ floor", "p50 ÷ best peer", "lost"], rows))
    return "\n\n".join(parts)


def flow_table(rows, fanout=False):
    out = []
    key = (lambda r: (r["size"], r["readers"], r["writers"])) if fanout else \
        (lambda r: (r["shape"] != "write-only", r["size"], r["writers"]))
    for r in sorted(rows, key=key):
        same = [x for x in rows if key(x) == key(r) and "write_fps" in x]
        metric = "write_fps" if r["shape"] == "write-only" else "mean_reader_fps"
        orbit = next((x[metric] for x in same if x["kind"] == "orbit"), None)
        single = next((x[metric] for x in same if x["kind"] == "orbit-sw"), None)
        name = f"**{r['transport']}**" if r["kind"] in OURS else r["transport"]
        shape = f"{r['size']} B, {r['writers']}w → {r['readers']}r"
        if "unsupported" in r:
            out.append([shape, name, "–", "–", "–", f"n/a: {r['unsupported']}", ""])
            continue
        if "error" in r:
            out.append([shape, name, "–", "–", "–", f"failed: {r['error']}", ""])
            continue
        v = r[metric]
        out.append([
            shape, name,
            fmt_rate(r["write_fps"]) + "/s",
            (fmt_rate(r["mean_reader_fps"]) + "/s") if r["readers"] else "–",
            f"{r['missed_fraction'] * 100:.1f}%" if r["readers"] else "–",
            fmt_ratio(ratio(orbit, v)) if r["kind"] not in OURS else "",
            fmt_ratio(ratio(single, v)) if r["kind"] not in OURS else "",
        ])
    return table(["shape", "transport", "written", "received per reader", "missed", "orbit ÷ this",
                  "single writer ÷ this"], out)


def cache_table(data):
    rows = data.get("cache", [])
    ok = [r for r in rows if "ops_per_s" in r]
    orbit = {r["op"]: r["ops_per_s"] for r in ok if r["system"] == "orbit"}
    out = []
    for r in rows:
        if "ops_per_s" not in r:
            out.append([r["system"], "–", "–", "–", "–", f"failed: {r.get('error')}"])
            continue
        out.append([
            f"**{r['system']}**" if r["system"] == "orbit" else r["system"],
            r["op"], r["mode"], f"{r['ns_per_op']:.1f} ns", fmt_rate(r["ops_per_s"]) + "/s",
            fmt_ratio(ratio(orbit.get(r["op"]), r["ops_per_s"])) if r["system"] != "orbit" else "",
        ])
    return table(["system", "op", "how", "per op", "ops/s", "orbit ÷ this"], out)


def targets_table(data):
    out = []
    for t in data.get("targets", []):
        met = {True: "met", False: "**not met**", None: "n/a"}[t["met"]]
        v = t["value"]
        out.append([t["target"], "–" if v is None else f"{v:.3g}", met])
    return table(["target", "this run", ""], out)


def machine_block(data):
    m = data["machine"]
    v = data["versions"]
    la = data.get("loadavg", {})
    bg = [r.get("background_cores_busy") for k in ("latency", "throughput", "fanout")
          for r in data.get(k, []) if r.get("background_cores_busy") is not None]
    lines = [
        f"- CPU: {m['nproc']} × {m['cpu_model']} (family {m.get('cpu_family', '?')})"
        + (", virtual machine" if m.get("virtualized") else ""),
        f"- kernel {m['kernel']}, clocksource {m['clocksource']}, {m['memory_kib'] // 1024} MiB",
        f"- {m['rustc']}",
        "- crates: " + ", ".join(f"{k} {val}" for k, val in sorted(v.items())),
        f"- Redis: {data.get('notes', {}).get('redis_server', 'n/a')}",
        f"- load average at start / end: {la.get('start', '?')} / {la.get('end', '?')}",
    ]
    if bg:
        lines.append(
            f"- other processes' CPU just before each measurement: median {sorted(bg)[len(bg) // 2]:.2f} cores, "
            f"max {max(bg):.2f} cores")
    for when, probe in zip(("before", "after"), m.get("interruptions", [])):
        cpus = "; ".join(
            f"CPU {c['cpu']} {c['per_second']:.0f}/s, gap p50 {c['gap_p50_ns'] / 1e3:.1f} µs, "
            f"p90 {c['gap_p90_ns'] / 1e3:.1f} µs, {c['time_lost'] * 100:.1f}% of the time"
            for c in probe.get("cpus", []))
        lines.append(f"- interruptions of a busy-polling thread on each CPU (gaps over 1 µs "
                     f"between two clock reads), {when} the latency suite: {cpus}")
    lines.append(f"- {data['mode']} run, {data['run_seconds']:.0f} s of measurement")
    for f in data.get("build_failures", []):
        lines.append(f"- build failure: {f}")
    return "\n".join(lines)


def block_table(data):
    """Back-to-back p50 of every interleaved block, and orbit's ratio to the
    best cross-process peer and to the floors within each block: the VM's
    vCPU placement can change between blocks (it changes what a cache-line
    transfer costs several-fold), and a ratio taken inside one block compares
    like with like."""
    rows = [r for r in data.get("latency", []) if r.get("mode") == "back-to-back" and r.get("block_p50")]
    if not rows:
        return "(no per-block data in this run)"
    out = ["Each back-to-back measurement ran in blocks, every transport once per block in turn; "
           "p50 of each block in ns, then the ratio of orbit's multi-writer ring (*orbit*) and of its "
           "single-writer ring (*single*) to the others *within* each block, with the median over "
           "blocks.", "",
           "The line probe of each block (see above) is given in brackets.", "",
           "| message | transport | p50 per block (ns) | orbit ÷ this, per block | median "
           "| single ÷ this, per block | median |",
           "|---|---|---|---|---|---|---|"]

    def cells(ours, b):
        ratios = [o / x for o, x in zip(ours, b) if x]
        med = statistics.median(ratios) if ratios else None
        return (" / ".join("%.2f×" % v for v in ratios) if ratios else "",
                ("%.2f×" % med) if med is not None else "")

    for size in sorted({r["size"] for r in rows}):
        by = {r["kind"]: r for r in rows if r["size"] == size}
        orbit = by.get("orbit", {}).get("block_p50", [])
        single = by.get("orbit-sw", {}).get("block_p50", [])
        for kind, r in by.items():
            b = r["block_p50"]
            o = cells(orbit, b) if kind not in OURS else ("", "")
            s1 = cells(single, b) if kind not in OURS else ("", "")
            pl = r.get("block_placement_ns") or []
            cell = " / ".join(
                "%.0f" % v + (" (%.0f)" % (sum(pl[i]) / 2) if i < len(pl) and pl[i] and None not in pl[i] else "")
                for i, v in enumerate(b))
            out.append("| %d B | %s | %s | %s | %s | %s | %s |" % (
                size, r["transport"], cell, o[0], o[1], s1[0], s1[1]))
    return "\n".join(out)


def placement_table(data):
    """Back-to-back p50 ratios of orbit's rings to every other transport,
    compared only on the same vCPU placement, for each placement seen."""
    rows = [r for r in data.get("latency", []) if r.get("mode") == "back-to-back"
            and r.get("block_placement_ns")]
    if not rows:
        return "(no placement probes in this run: quick mode)"
    probes = sorted(sum(pl) / 2 for r in rows for pl in r["block_placement_ns"]
                    if pl and None not in pl and max(pl) / min(pl) <= 1.3)
    out = ["Before and after every block the harness bounces one cache line between two threads pinned "
           "to CPU 0 and CPU 1 (`line_probe`): what a line transfer between the two vCPUs costs *on the "
           "placement that block ran on*. The hypervisor moves the vCPUs between physical cores while "
           "the harness runs, and a transfer then costs several times more or less; a block whose "
           "two probes differ by more than 30% is left out here. Each ratio is the median over all pairs of "
           "blocks (orbit's, the other transport's) whose probes agree within 30%, so transports are "
           "compared on the same placement; the number of such pairs is given. "
           f"Probes in this run: {len(probes)}, from {probes[0]:.0f} to {probes[-1]:.0f} ns one-way, "
           f"median {statistics.median(probes):.0f} ns." if probes else "No stable probe in this run.", "",
           "| message | transport | orbit ring ÷ this | pairs | single writer ÷ this | pairs |",
           "|---|---|---|---|---|---|"]
    for size in sorted({r["size"] for r in rows}):
        by = {r["kind"]: r for r in rows if r["size"] == size}
        for kind, r in by.items():
            if kind in OURS:
                continue
            cells = []
            for ours in ("orbit", "orbit-sw"):
                # Computed by orbit-peers (`add_same_placement`).
                m = by.get(ours, {}).get("same_placement", {}).get(kind)
                cells += ["%.2f×" % m[0], str(m[1])] if m else ["–", "0"]
            out.append("| %d B | %s | %s |" % (size, r["transport"], " | ".join(cells)))
    return "\n".join(out)


def markdown(data, images):
    rel = lambda p: os.path.relpath(p, REPO)  # noqa: E731
    img = "\n".join(f"![{os.path.basename(p)}]({rel(p)})" for p in images)
    fl = data.get("throughput", [])
    parts = [
        "### Machine and versions of this run\n\n" + machine_block(data),
        "### Headline: orbit's one-way latency as ratios\n\n"
        "Ratios below 1 mean orbit is faster. *orbit ring*: the multi-writer ring (any number of "
        "writers, claims by compare-and-swap); *single writer*: a ring created single-writer and "
        "written through its `RingWriter` (plain-store claims). *line floor*: only the 8-byte stamp moves through a "
        "shared cache line; *copy floor*: the message is memcpy'd into a shared slot and out again. "
        "*best peer*: the fastest of iceoryx2, disruptor (threads), kekbit, unix socket and pipe at "
        "that percentile; *best cross-process peer* leaves out the disruptor, whose two ends are "
        "threads of one process.\n\n" + headline(data),
        "### Targets\n\n" + targets_table(data),
        "### Back-to-back p50 on the same vCPU placement\n\n" + placement_table(data),
        "### Back-to-back p50 block by block\n\n" + block_table(data),
        "### Latency, full ladder\n\n" + latency_tables(data),
        "### Throughput (frames/s)\n\n" + flow_table(fl),
        "### Fan-out (frames/s per reader)\n\n" + flow_table(data.get("fanout", []), fanout=True),
        "### Cache\n\n" + cache_table(data),
        "### Plots\n\n" + img,
    ]
    return "\n\n".join(parts)


REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def check(data):
    """The harness still works: every peer built and every row has a result."""
    problems = [f"build failure: {b}" for b in data.get("build_failures", [])]
    for suite in ("latency", "throughput", "fanout", "cache"):
        for row in data.get(suite, []):
            if "error" in row:
                what = " ".join(str(row.get(k, "")) for k in ("transport", "size", "mode", "op", "writers", "readers")
                                if row.get(k) is not None)
                problems.append(f"{suite}: {what.strip()}: {row['error']}")
    if not any(data.get(s) for s in ("latency", "throughput", "fanout", "cache")):
        problems.append("no measurement at all")
    if problems:
        sys.exit("harness check failed:\n  " + "\n  ".join(problems))
    print("harness check: every peer built, every measurement has a result")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "results", "results.json"))
    ap.add_argument("--outdir")
    ap.add_argument("--markdown")
    ap.add_argument("--check", action="store_true",
                    help="fail (exit 1) if a peer failed to build or any measurement has no result")
    a = ap.parse_args()
    with open(a.json) as f:
        data = json.load(f)
    if a.check:
        check(data)
    outdir = a.outdir or os.path.dirname(os.path.abspath(a.json))
    os.makedirs(outdir, exist_ok=True)
    images = plot_latency(data, outdir) + plot_throughput(data, outdir) + plot_fanout(data, outdir) \
        + plot_cache(data, outdir)
    for p in images:
        print("wrote", p)
    if a.markdown:
        with open(a.markdown) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{a.markdown}: no {BEGIN} ... {END} section to fill")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + BEGIN + "\n\n" + markdown(data, images) + "\n\n" + END + tail
        with open(a.markdown, "w") as f:
            f.write(doc)
        print("updated", a.markdown)


if __name__ == "__main__":
    main()
