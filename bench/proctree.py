"""CPU and memory of a process tree (a service and the browsers it started), from /proc; shared
by the browser benchmarks (bench/browser.sh, bench/playwright.sh)."""
import os


def proc_table(root):
    """pid -> (ppid, own CPU s, exited children's CPU s, Chromium process type) of `root` (type
    "pageinspect") and its descendants (type from `--type=`; none: the browser process)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick,
                                 (int(rest[13]) + int(rest[14])) / tick)
            except (OSError, IndexError):
                pass
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    table = {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                args = f.read().replace("\0", " ").split()
        except OSError:
            continue
        kind = "pageinspect" if pid == root else \
            next((a[7:] for a in args if a.startswith("--type=")), "browser")
        table[pid] = stats[pid] + (kind,)
    return table

class CpuMeter:
    """CPU seconds of pageinspect and of its browsers over a level, sampled so that browsers
    replaced meanwhile (recycle_after) are counted: a process that exited is counted through
    its parent's cutime when the parent lives on (renderers through their zygote, a replaced
    browser through pageinspect), else (the orphans of a killed browser) by its last sample."""

    def __init__(self, root):
        self.root = root
        self.first, self.last = {}, {}
        self.sample(born_before=True)

    def sample(self, born_before=False):
        table = proc_table(self.root)
        for pid, (ppid, own, children, kind) in table.items():
            if pid not in self.first:
                self.first[pid] = (own, children) if born_before else (0.0, 0.0)
            self.last[pid] = (ppid, own, children, kind)
        return table

    def finish(self):
        """(pageinspect's own CPU s, the browsers' CPU s, {process type: CPU s})."""
        alive = self.sample()
        by_type = {}
        def add(key, v):
            by_type[key] = by_type.get(key, 0.0) + v
        def exited(kind):
            if kind == "pageinspect":
                return "browser (replaced, exited)"
            if kind == "zygote":
                return "zygote (exited renderers)"
            return f"{kind} (exited children)"
        for pid, (ppid, own, children, kind) in self.last.items():
            f_own, f_children = self.first[pid]
            if pid not in alive and ppid in alive:
                # All of its life is in the parent's cutime: take back what came before.
                add(exited(alive[ppid][3]), -f_own - f_children)
            else:
                add(kind, own - f_own)
                add(exited(kind), children - f_children)
        own_pi = by_type.pop("pageinspect", 0.0)
        by_type = {k: v for k, v in by_type.items() if abs(v) >= 0.0005}
        return own_pi, sum(by_type.values()), by_type

def tree_pss_bytes(root):
    """Proportional set size of `root`'s descendants (the browsers): shared pages split."""
    total = 0
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree - {root}:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next((int(l.split()[1]) * 1024 for l in f if l.startswith("Pss:")), 0)
        except OSError:
            pass
    return total

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")
