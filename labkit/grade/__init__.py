"""Batch grading of student notebooks: sandboxed, with hidden checks, in parallel (``labkit grade``).

The modules, in the order data flows through them:

* :mod:`~labkit.grade.rubric` — ``grading/<lab>.yaml``: items, points, thresholds, limits;
* :mod:`~labkit.grade.release` — the student version of a lab (``labkit release``);
* :mod:`~labkit.grade.runner` — finds submissions, resumes, spreads them over a
  process pool or Dask (:func:`~labkit.grade.runner.grade`);
* :mod:`~labkit.grade.execute` — grades one submission in its sandbox;
* :mod:`~labkit.grade.sandbox` — bubblewrap, cgroups, rlimits;
* :mod:`~labkit.grade.inside` — the program inside the sandbox (kernel, hidden checks);
* :mod:`~labkit.grade.hidden` — ``@check``, for the instructor's hidden-check cells;
* :mod:`~labkit.grade.scoring` — scores the rubric items;
* :mod:`~labkit.grade.gradebook` — gradebook.csv/.html and the feedback pages.

Importing this package imports nothing else (the hidden checks import
:mod:`labkit.grade.hidden` in the sandbox's fresh interpreter, :mod:`labkit.grade.verdict`).
"""


def skip_slow_imports() -> None:
    """Keep jsonschema (imported by nbformat) from building an IRI grammar at import: seconds per process.

    ``rfc3987_syntax``, when installed, parses its grammar when jsonschema is
    imported, for a string format no notebook schema uses. Called only in the
    processes the grader starts for itself (the sandbox's program, the local
    pool's workers, a ``LocalCluster``'s workers), never in a user's process.
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)
