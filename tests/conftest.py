"""Test-session settings. `make test` runs the suite on pytest-xdist workers (`-n auto`: one per core); each worker,
and every kernel or process it starts, then computes on one thread: two workers of two OpenMP threads each on two
cores spin against each other and run several times slower than one. The longest tests are sent out first, to
different workers, so that neither ends up waiting behind the other."""
import os

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:                                         # before anything imports torch; subprocesses inherit it
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"): os.environ[k] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"

# the whole pipeline on the real models, then the whole pipeline on a four-dimension config: minutes each
LONGEST = ("test_report_html.py::test_quick_report_renders_in_chromium",
           "test_study_config.py::test_four_dimensions_llava_and_openclip_end_to_end")


def _rank(item) -> int:
    "0 for the longest tests (in `LONGEST` order), 2 for the notebooks (seconds to a minute each), 1 for the rest."
    for i, name in enumerate(LONGEST):
        if item.nodeid.endswith(name): return -len(LONGEST) + i
    return 2 if "test_notebooks.py::test_notebook[" in item.nodeid else 1


def pytest_collection_modifyitems(session, config, items):
    "Longest first, then the quick tests, the notebooks last: xdist's first round-robin batch puts the two longest on two workers and the notebooks are dealt out as workers free up."
    items.sort(key=_rank)                          # stable: the collection order within each rank
