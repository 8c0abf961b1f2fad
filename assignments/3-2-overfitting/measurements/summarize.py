import json, glob, sys, re
import numpy as np
def metrics(h, E=None):
    va = np.array(h["val_accuracy"]); a = np.array(h["accuracy"]); vl = np.array(h["val_loss"])
    if E: va, a, vl = va[:E], a[:E], vl[:E]
    E = len(va)
    pk = int(va.argmax()) + 1
    return dict(E=E, peak=pk, peakacc=va.max(), last=va[-1], drop=va.max() - va[-1], gap=a[-1] - va[-1],
                vlmin=int(vl.argmin()) + 1, vlrise=vl[-1] - vl.min(), tr=a[-1])
def show(pattern, E=None):
    rows = []
    for f in sorted(glob.glob(f"/tmp/scenario/results/{pattern}.json")):
        r = json.load(open(f)); n = r["nets"]
        if "bigger" not in n: continue
        g = metrics(n["bigger"]["history"], E); b = metrics(n["baseline"]["history"], E); s = metrics(n["smaller"]["history"], E)
        extra = ""
        for k in ("dropout", "l2", "augment"):
            if k in n:
                m = metrics(n[k]["history"], E); extra += f" {k[:3]}gap={m['gap']:.3f}/va={m['last']:.3f}"
        t = " ".join(f"{k[:3]}={v['fit_s']:.1f}" for k, v in n.items())
        ok = "OK " if (g['peak'] <= 0.6 * g['E'] and g['drop'] >= 0.01 and s['last'] >= 0.75) else "-- "
        print(f"{ok}{f.split('/')[-1][:-5]:28s} E={g['E']} BIG pk={g['peak']:2d} pka={g['peakacc']:.3f} last={g['last']:.3f} drop={g['drop']:.3f} gap={g['gap']:.3f} vlmin={g['vlmin']} | BASE gap={b['gap']:.3f} va={b['last']:.3f} pk={b['peak']} | SM va={s['last']:.3f} gap={s['gap']:.3f} |{extra} | t: {t}")
if __name__ == "__main__":
    pat = sys.argv[1] if len(sys.argv) > 1 else "*"
    Es = [int(x) for x in sys.argv[2:]] or [None]
    for E in Es:
        show(pat, E)
