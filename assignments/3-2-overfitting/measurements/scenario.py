"""Scenario measurements for exercise 3-2 (copied/adapted from autograder/measure.py; no autograder import).

child:  python run.py child CONFIG_JSON SEED OUTFILE
sweep:  python run.py sweep --cfg NAME=JSON ... --seeds 1 2 [--par 2]
part1:  python run.py part1 --seeds 0
Each (config, seed) runs in its own child process, mimicking the notebook: set_random_seed(seed);
build smaller, baseline, bigger; train them in that order; (parts=23) set_random_seed(seed) again;
build dropout, l2, augment Bigger; train in that order.
"""
import json, os, sys, time, subprocess, argparse

def child(cfg, seed, outfile):
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_HOME", os.path.expanduser("~/.cache/fmnist-kit/keras"))
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    tf.config.experimental.enable_op_determinism()
    keras.config.set_floatx(cfg.get("floatx", "float32"))  # the notebooks train Parts 2-3 in float64
    (tri, trl), (tei, tel) = keras.datasets.fashion_mnist.load_data()
    out = {"cfg": cfg, "seed": seed, "load_start": os.getloadavg(), "nets": {}}
    lr = cfg.get("lr")
    spe = cfg.get("spe", 50)

    if cfg.get("kind") == "part1":
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
        t0 = time.perf_counter(); c0 = time.process_time()
        h = m.fit(tri / 255.0, trl, epochs=5, verbose=0)
        fit_s = time.perf_counter() - t0; out["cpu_s"] = time.process_time() - c0
        _, acc = m.evaluate(tei / 255.0, tel, verbose=0)
        out["nets"]["part1"] = {"history": {k: [float(v) for v in vs] for k, vs in h.history.items()},
                                "fit_s": fit_s, "test_acc": float(acc)}
    else:
        n_train, n_val = cfg["n_train"], cfg.get("n_val", 5000)
        x, y = tri[:n_train] / 255.0, trl[:n_train]
        xv, yv = tri[-n_val:] / 255.0, trl[-n_val:]
        E = cfg["epochs"]; B = cfg["batch"]

        def build(units, dropout=None, l2=None, augment=False):
            reg = keras.regularizers.l2(l2) if l2 else None
            L = [keras.Input(shape=(28, 28))]
            if augment:
                L += [keras.layers.Reshape((28, 28, 1)), keras.layers.RandomTranslation(0.1, 0.1),
                      keras.layers.RandomZoom(0.1)]
            L.append(keras.layers.Flatten())
            for _ in range(2):
                L.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=reg))
                if dropout:
                    L.append(keras.layers.Dropout(dropout))
            L.append(keras.layers.Dense(10, activation="softmax"))
            return keras.Sequential(L)

        def train(name, model):
            opt = keras.optimizers.Adam(learning_rate=lr) if lr else "adam"
            model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                          steps_per_execution=spe)
            t0 = time.perf_counter(); c0 = time.process_time()
            h = model.fit(x, y, epochs=E, batch_size=B, validation_data=(xv, yv), verbose=0,
                          validation_batch_size=cfg.get("vbs"))
            fit_s = time.perf_counter() - t0; cpu_s = time.process_time() - c0
            out["nets"][name] = {"history": {k: [float(v) for v in vs] for k, vs in h.history.items()},
                                 "fit_s": fit_s, "cpu_s": cpu_s}

        us, ub, ug = cfg["units"]
        keras.utils.set_random_seed(seed)
        nets = [("smaller", build(us)), ("baseline", build(ub)), ("bigger", build(ug))]
        for n, m in nets:
            train(n, m)
        if "3" in cfg.get("parts", "2"):
            keras.utils.set_random_seed(seed)
            nets = [("dropout", build(ug, dropout=cfg["dropout"])), ("l2", build(ug, l2=cfg["l2"])),
                    ("augment", build(ug, augment=True))]
            for n, m in nets:
                train(n, m)
    out["load_end"] = os.getloadavg()
    with open(outfile, "w") as f:
        json.dump(out, f)


def sweep(cfgs, seeds, par, force=False):
    jobs = []
    for name, cfg in cfgs:
        for s in seeds:
            of = f"/tmp/scenario/results/{name}_s{s}.json"
            if os.path.exists(of) and not force:
                continue
            jobs.append((name, cfg, s, of))
    running = []
    while jobs or running:
        while jobs and len(running) < par:
            name, cfg, s, of = jobs.pop(0)
            p = subprocess.Popen([sys.executable, __file__, "child", json.dumps(cfg), str(s), of],
                                 stdout=subprocess.DEVNULL, stderr=open(of + ".err", "w"))
            running.append((p, name, s, time.time()))
        time.sleep(1)
        for r in running[:]:
            if r[0].poll() is not None:
                running.remove(r)
                print(f"done {r[1]} seed={r[2]} rc={r[0].returncode} wall={time.time()-r[3]:.0f}s load={os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--cfg", nargs="*", default=[])
        ap.add_argument("--seeds", nargs="+", type=int)
        ap.add_argument("--par", type=int, default=2)
        ap.add_argument("--force", action="store_true")
        a = ap.parse_args()
        if a.mode == "part1":
            sweep([("part1", {"kind": "part1"})], a.seeds, 1, a.force)
        else:
            cfgs = [(c.split("=", 1)[0], json.loads(c.split("=", 1)[1])) for c in a.cfg]
            sweep(cfgs, a.seeds, a.par, a.force)
