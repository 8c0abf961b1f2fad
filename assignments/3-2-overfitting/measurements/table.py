import json, glob, sys
import numpy as np
def m(h, E=None):
    va, a, vl = (np.array(h[k][:E] if E else h[k]) for k in ("val_accuracy", "accuracy", "val_loss"))
    return dict(pk=int(va.argmax()) + 1, pka=va.max(), last=va[-1], drop=va.max() - va[-1], gap=a[-1] - va[-1],
                vlmin=int(vl.argmin()) + 1, E=len(va))
pat = sys.argv[1]; E = int(sys.argv[2]) if len(sys.argv) > 2 else None
print("| seed | Big peak ep | peak va | last va | drop | Big gap | vl argmin | Base gap | Base va | Small va | Small gap | drop gap (va) | l2 gap (va) | aug gap (va) | fit s (cpu s) S/B/G/D/L/A |")
print("|---" * 16 + "|")
for f in sorted(glob.glob(f"/tmp/scenario/results/{pat}_s*.json"), key=lambda f: int(f.split('_s')[-1][:-5])):
    r = json.load(open(f)); n = r["nets"]
    g, b, s = (m(n[k]["history"], E) for k in ("bigger", "baseline", "smaller"))
    p3 = [f"{m(n[k]['history'],E)['gap']:.3f} ({m(n[k]['history'],E)['last']:.3f})" if k in n else "-" for k in ("dropout", "l2", "augment")]
    t = "/".join(f"{v['fit_s']:.0f}({v.get('cpu_s',0):.0f})" for v in n.values())
    print(f"| {r['seed']} | {g['pk']}/{g['E']} | {g['pka']:.3f} | {g['last']:.3f} | {g['drop']:.3f} | {g['gap']:.3f} | {g['vlmin']} | {b['gap']:.3f} | {b['last']:.3f} | {s['last']:.3f} | {s['gap']:.3f} | " + " | ".join(p3) + f" | {t} |")
